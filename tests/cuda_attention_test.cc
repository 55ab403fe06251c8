// CUDA attention and KV-cache writes against the CPU backend (the reference), through the
// kernels::Backend interface only. Every shape runs on both backends from the same inputs
// (rounded once to the CUDA storage type), the CUDA output and probabilities are poisoned with
// NaN first, and the result must be within Tolerance(dtype) relative error (probabilities:
// element by element, masked ones exactly 0). Shapes cover every path of cuda::Attention:
//   - prefill on tensor cores: head_dim 32/64/128, causal and bidirectional, paged (block sizes
//     8/16/32, shuffled block tables) and contiguous, lengths off the 64-row tile, chunked
//     prefill after cached context, GQA and MQA, long (4k) sequences;
//   - decode: one split (short contexts) and many splits (8k-32k), GQA groups 1..12, odd head
//     dims (8, 80, 256), all three dtypes;
//   - decode + prefill in one call (37 sequences of mixed lengths, empty ones included);
//   - the reference path: F32 prefill, head_dim 96, and probabilities for explanations.
// Each test prints its shape and the plan (path, grid, splits) so a failure names its path.
// Without a CUDA device the tests skip; they are built always.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/cuda_test_util.h"
#if defined(INFER_WITH_CUDA)
#include "kernels/cuda/attention_plan.h"
#endif

namespace infer::kernels {
namespace {

using testing::Download;
using testing::Poison;
using testing::RandomValues;
using testing::RelativeError;
using testing::RoundTo;
using testing::Tolerance;

enum class Path { kDecode, kPrefill, kMixed, kReference };

const char* PathName(Path p) {
  switch (p) {
    case Path::kDecode: return "decode";
    case Path::kPrefill: return "prefill";
    case Path::kMixed: return "decode+prefill";
    case Path::kReference: return "reference";
  }
  return "?";
}

struct AttnCase {
  std::string name;
  int heads = 4, kv_heads = 4, head_dim = 64;
  std::vector<int> q_lens = {};
  std::vector<int> ctx_lens = {};  // empty: contiguous k/v (ctx = q_len)
  int block_size = 16;        // paged only
  bool causal = true;
  bool probs = false;
  float scale_mul = 1.0f;     // scale = scale_mul / sqrt(head_dim); > 1 makes peaked softmaxes
  Path path16 = Path::kPrefill;  // expected path for F16/BF16 (F32 prefill goes to reference)
  std::vector<DType> dtypes = {DType::kBF16, DType::kF16};

  bool paged() const { return !ctx_lens.empty(); }
  int ctx(int s) const { return paged() ? ctx_lens[s] : q_lens[s]; }
};

struct AttnRun {
  AttnCase c;
  DType dtype;
  std::string TestName() const {
    std::string n = c.name + "_" + DTypeName(dtype);
    for (char& ch : n) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return n;
  }
};

std::string Join(const std::vector<int>& v, size_t max_items = 12) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) os << (i ? "," : "") << v[i];
  if (v.size() > max_items) os << ",...(" << v.size() << ")";
  return os.str();
}

// Sequences of a mixed batch (continuous batching): decode tokens with contexts up to a few
// thousand, prefill chunks after cached context, whole prompts, and empty sequences.
void MixedBatch(int n, uint32_t seed, std::vector<int>* q_lens, std::vector<int>* ctx_lens) {
  std::mt19937 rng(seed);
  for (int s = 0; s < n; ++s) {
    const int kind = s % 5;
    int q, ctx;
    if (kind == 0 || kind == 2) {  // decode
      q = 1;
      ctx = 1 + static_cast<int>(rng() % 3000);
    } else if (kind == 1) {  // prefill chunk after cached context
      q = 2 + static_cast<int>(rng() % 150);
      ctx = q + static_cast<int>(rng() % 500);
    } else if (kind == 3) {  // whole prompt
      q = 2 + static_cast<int>(rng() % 200);
      ctx = q;
    } else {  // an empty sequence every 10th, else a one-row chunk after context
      q = s % 10 == 4 ? 0 : 1;
      ctx = q == 0 ? 0 : 1 + static_cast<int>(rng() % 64);
    }
    q_lens->push_back(q);
    ctx_lens->push_back(ctx);
  }
}

std::vector<AttnCase> Cases() {
  std::vector<AttnCase> cases;
  auto add = [&](AttnCase c) { cases.push_back(std::move(c)); };
  const std::vector<DType> all = {DType::kBF16, DType::kF16, DType::kF32};
  const std::vector<DType> half_only = {DType::kBF16, DType::kF16};

  // ---- Prefill on tensor cores (F32 runs of these go through the reference path).
  add({.name = "prefill_d64_causal_contig_1000", .heads = 4, .kv_heads = 4, .head_dim = 64,
       .q_lens = {1000}, .causal = true, .dtypes = all});
  add({.name = "prefill_d64_bidir_contig_varlen", .heads = 6, .kv_heads = 6, .head_dim = 64,
       .q_lens = {17, 64, 65, 300, 2}, .causal = false});
  add({.name = "prefill_d128_causal_paged_bs16", .heads = 8, .kv_heads = 2, .head_dim = 128,
       .q_lens = {300, 129}, .ctx_lens = {300, 129}, .block_size = 16, .causal = true,
       .dtypes = all});
  add({.name = "prefill_d128_bidir_paged_bs32_chunk", .heads = 4, .kv_heads = 4,
       .head_dim = 128, .q_lens = {100, 7}, .ctx_lens = {1000, 70}, .block_size = 32,
       .causal = false});
  add({.name = "prefill_d32_minilm_bidir_contig", .heads = 12, .kv_heads = 12, .head_dim = 32,
       .q_lens = {7, 128, 33, 250}, .causal = false, .dtypes = all});
  add({.name = "prefill_d32_causal_paged_bs8_mqa", .heads = 4, .kv_heads = 1, .head_dim = 32,
       .q_lens = {65, 3}, .ctx_lens = {65, 130}, .block_size = 8, .causal = true});
  add({.name = "prefill_chunked_gqa_d64_bs16", .heads = 8, .kv_heads = 2, .head_dim = 64,
       .q_lens = {64, 37, 2}, .ctx_lens = {1000, 2000, 66}, .block_size = 16, .causal = true});
  add({.name = "prefill_mqa_d128_peaked", .heads = 8, .kv_heads = 1, .head_dim = 128,
       .q_lens = {200}, .ctx_lens = {200}, .block_size = 16, .causal = true, .scale_mul = 4.0f});
  add({.name = "prefill_long_4k_causal_d128", .heads = 2, .kv_heads = 2, .head_dim = 128,
       .q_lens = {4096}, .ctx_lens = {4096}, .block_size = 16, .causal = true});
  add({.name = "prefill_long_2k_bidir_d64_contig", .heads = 2, .kv_heads = 1, .head_dim = 64,
       .q_lens = {2047}, .causal = false});
  add({.name = "prefill_two_rows", .heads = 2, .kv_heads = 2, .head_dim = 64, .q_lens = {2},
       .ctx_lens = {2}, .block_size = 16, .causal = true});

  // ---- Mixed decode + prefill in one call.
  {
    AttnCase c{.name = "mixed_37_seqs_gqa_d64_bs16", .heads = 8, .kv_heads = 2, .head_dim = 64,
               .block_size = 16, .causal = true, .path16 = Path::kMixed};
    MixedBatch(37, 7, &c.q_lens, &c.ctx_lens);
    add(c);
    AttnCase d{.name = "mixed_37_seqs_d128_bs32", .heads = 4, .kv_heads = 4, .head_dim = 128,
               .block_size = 32, .causal = true, .path16 = Path::kMixed};
    MixedBatch(37, 11, &d.q_lens, &d.ctx_lens);
    add(d);
    AttnCase e{.name = "mixed_encoder_contig_with_1_token", .heads = 12, .kv_heads = 12,
               .head_dim = 32, .q_lens = {1, 40, 1, 9}, .causal = false,
               .path16 = Path::kMixed};
    add(e);
  }

  // ---- Decode (every sequence one query row).
  {
    AttnCase c{.name = "decode_one_split_200_seqs_d64", .heads = 12, .kv_heads = 12,
               .head_dim = 64, .block_size = 16, .path16 = Path::kDecode, .dtypes = all};
    std::mt19937 rng(3);
    for (int s = 0; s < 200; ++s) {
      c.q_lens.push_back(1);
      c.ctx_lens.push_back(1 + static_cast<int>(rng() % 256));
    }
    add(c);
  }
  // F32 is left out at 32k: the CPU reference's own float sums over 32k terms are off by a few
  // 1e-6, too close to the F32 tolerance (the 8k case runs F32).
  add({.name = "decode_32k_many_splits_gqa4_d128", .heads = 8, .kv_heads = 2, .head_dim = 128,
       .q_lens = {1}, .ctx_lens = {32768}, .block_size = 16, .path16 = Path::kDecode});
  add({.name = "decode_8k_batch_bs32", .heads = 8, .kv_heads = 8, .head_dim = 64,
       .q_lens = {1, 1, 1, 1}, .ctx_lens = {8192, 8000, 5, 3000}, .block_size = 32,
       .path16 = Path::kDecode, .dtypes = all});
  add({.name = "decode_mqa_group8_d128", .heads = 8, .kv_heads = 1, .head_dim = 128,
       .q_lens = {1, 1}, .ctx_lens = {1000, 4097}, .block_size = 16, .path16 = Path::kDecode});
  add({.name = "decode_group12_chunks_d64", .heads = 12, .kv_heads = 1, .head_dim = 64,
       .q_lens = {1, 1}, .ctx_lens = {700, 31}, .block_size = 16, .path16 = Path::kDecode});
  add({.name = "decode_group3_d80", .heads = 6, .kv_heads = 2, .head_dim = 80,
       .q_lens = {1, 1}, .ctx_lens = {257, 33}, .block_size = 16, .path16 = Path::kDecode,
       .dtypes = all});
  add({.name = "decode_d256_group4_bs8", .heads = 8, .kv_heads = 2, .head_dim = 256,
       .q_lens = {1, 1}, .ctx_lens = {1500, 2}, .block_size = 8, .path16 = Path::kDecode,
       .dtypes = all});
  add({.name = "decode_d8_tiny_rows", .heads = 2, .kv_heads = 1, .head_dim = 8,
       .q_lens = {1, 1}, .ctx_lens = {40, 600}, .block_size = 16, .path16 = Path::kDecode});
  add({.name = "decode_one_token_context", .heads = 4, .kv_heads = 4, .head_dim = 64,
       .q_lens = {1, 0, 1}, .ctx_lens = {1, 0, 1}, .block_size = 16, .path16 = Path::kDecode,
       .dtypes = all});
  add({.name = "decode_peaked_softmax", .heads = 4, .kv_heads = 2, .head_dim = 128,
       .q_lens = {1}, .ctx_lens = {5000}, .block_size = 16, .scale_mul = 6.0f,
       .path16 = Path::kDecode});

  // ---- Reference path: other head dims, probabilities.
  add({.name = "reference_d96_causal_paged", .heads = 4, .kv_heads = 2, .head_dim = 96,
       .q_lens = {50, 3}, .ctx_lens = {80, 3}, .block_size = 16, .causal = true,
       .path16 = Path::kReference, .dtypes = all});
  add({.name = "probs_prefill_chunk_gqa_paged", .heads = 4, .kv_heads = 2, .head_dim = 64,
       .q_lens = {20, 1, 33}, .ctx_lens = {50, 9, 33}, .block_size = 16, .causal = true,
       .probs = true, .path16 = Path::kReference, .dtypes = all});
  add({.name = "probs_encoder_bidir_contig_d32", .heads = 12, .kv_heads = 12, .head_dim = 32,
       .q_lens = {9, 30}, .causal = false, .probs = true, .path16 = Path::kReference,
       .dtypes = all});
  add({.name = "probs_decode_8k", .heads = 2, .kv_heads = 2, .head_dim = 64, .q_lens = {1},
       .ctx_lens = {8192}, .block_size = 32, .probs = true, .path16 = Path::kReference,
       .dtypes = all});
  return cases;
}

std::vector<AttnRun> Runs() {
  std::vector<AttnRun> runs;
  for (const AttnCase& c : Cases()) {
    for (DType t : c.dtypes) runs.push_back({c, t});
  }
  return runs;
}

Path ExpectedPath(const AttnCase& c, DType dtype) {
  if (c.probs) return Path::kReference;
  if (dtype != DType::kF32) return c.path16;
  const bool all_decode =
      std::all_of(c.q_lens.begin(), c.q_lens.end(), [](int q) { return q <= 1; });
  return all_decode ? Path::kDecode : Path::kReference;
}

// One backend's tensors for a case.
struct AttnTensors {
  Tensor q, out, k, v, k_cache, v_cache, block_tables, cu, ctx, probs, probs_offsets;
};

class CudaAttentionTest : public ::testing::TestWithParam<AttnRun> {};

TEST_P(CudaAttentionTest, MatchesCpu) {
  const AttnCase& c = GetParam().c;
  const DType dtype = GetParam().dtype;
  INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
  std::unique_ptr<Backend> cpu = MakeCpuBackend();

  // ---- Host data.
  const int num_seqs = static_cast<int>(c.q_lens.size());
  std::vector<int32_t> cu(num_seqs + 1, 0), ctx(num_seqs);
  for (int s = 0; s < num_seqs; ++s) {
    cu[s + 1] = cu[s] + c.q_lens[s];
    ctx[s] = c.ctx(s);
  }
  const int total_q = cu[num_seqs];
  const int64_t kv_row = static_cast<int64_t>(c.kv_heads) * c.head_dim;
  uint64_t seed = 0x5eed;
  for (char ch : GetParam().TestName()) seed = seed * 131 + static_cast<unsigned char>(ch);
  std::mt19937_64 rng(seed);
  const std::vector<float> q =
      RandomValues(static_cast<size_t>(total_q) * c.heads * c.head_dim, seed + 1, dtype);
  std::vector<float> k, v, k_cache, v_cache;
  std::vector<int32_t> tables;
  int max_blocks = 0, num_blocks = 0;
  if (c.paged()) {
    for (int s = 0; s < num_seqs; ++s) {
      const int nb = (ctx[s] + c.block_size - 1) / c.block_size;
      max_blocks = std::max(max_blocks, nb);
      num_blocks += nb;
    }
    max_blocks += 1;  // a spare column: entries past a sequence's blocks are never read
    num_blocks += 5;  // blocks owned by nobody
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    tables.assign(static_cast<size_t>(num_seqs) * max_blocks, -1);
    int next = 0;
    for (int s = 0; s < num_seqs; ++s) {
      for (int b = 0; b < (ctx[s] + c.block_size - 1) / c.block_size; ++b) {
        tables[static_cast<size_t>(s) * max_blocks + b] = perm[next++];
      }
    }
    // Slots no sequence owns hold NaN: reading one (a row past a context, a wrong block) shows
    // up as NaN in the output.
    k_cache.assign(static_cast<size_t>(num_blocks) * c.block_size * kv_row, NAN);
    v_cache = k_cache;
    const std::vector<float> kr = RandomValues(k_cache.size(), seed + 2, dtype);
    const std::vector<float> vr = RandomValues(k_cache.size(), seed + 3, dtype);
    for (int s = 0; s < num_seqs; ++s) {
      for (int pos = 0; pos < ctx[s]; ++pos) {
        const int32_t block = tables[static_cast<size_t>(s) * max_blocks + pos / c.block_size];
        const int64_t slot = static_cast<int64_t>(block) * c.block_size + pos % c.block_size;
        std::copy_n(kr.begin() + slot * kv_row, kv_row, k_cache.begin() + slot * kv_row);
        std::copy_n(vr.begin() + slot * kv_row, kv_row, v_cache.begin() + slot * kv_row);
      }
    }
  } else {
    k = RandomValues(static_cast<size_t>(total_q) * kv_row, seed + 2, dtype);
    v = RandomValues(static_cast<size_t>(total_q) * kv_row, seed + 3, dtype);
  }
  std::vector<int64_t> probs_offsets(num_seqs);
  int64_t probs_total = 0;
  for (int s = 0; s < num_seqs; ++s) {
    probs_offsets[s] = probs_total;
    probs_total += static_cast<int64_t>(c.heads) * c.q_lens[s] * ctx[s];
  }

  std::ostringstream shape;
  shape << DTypeName(dtype) << " heads=" << c.heads << " kv_heads=" << c.kv_heads
        << " head_dim=" << c.head_dim << " seqs=" << num_seqs << " total_q=" << total_q
        << " q_lens=" << Join(c.q_lens);
  if (c.paged()) {
    shape << " ctx=" << Join(c.ctx_lens) << " paged block_size=" << c.block_size;
  } else {
    shape << " contiguous";
  }
  shape << (c.causal ? " causal" : " bidirectional") << (c.probs ? " probs" : "")
        << " scale_mul=" << c.scale_mul;

  // ---- Both backends.
  auto run = [&](Backend& be, DType t, AttnTensors& x, AttentionParams& p) {
    x.q = testing::Upload(be, q, {total_q, c.heads, c.head_dim}, t);
    x.out = be.Alloc({total_q, c.heads, c.head_dim}, t);
    Poison(be, x.out);
    x.cu = be.Alloc({num_seqs + 1}, DType::kI32);
    be.CopyFromHost(cu.data(), x.cu);
    x.ctx = be.Alloc({num_seqs}, DType::kI32);
    be.CopyFromHost(ctx.data(), x.ctx);
    p.dtype = t;
    p.q = x.q.data;
    p.out = x.out.data;
    if (c.paged()) {
      const std::vector<int64_t> cache_shape = {num_blocks, c.block_size, c.kv_heads, c.head_dim};
      x.k_cache = testing::Upload(be, k_cache, cache_shape, t);
      x.v_cache = testing::Upload(be, v_cache, cache_shape, t);
      x.block_tables = be.Alloc({num_seqs, max_blocks}, DType::kI32);
      be.CopyFromHost(tables.data(), x.block_tables);
      p.k_cache = x.k_cache.data;
      p.v_cache = x.v_cache.data;
      p.block_tables = x.block_tables.as<int32_t>();
      p.max_blocks_per_seq = max_blocks;
      p.block_size = c.block_size;
    } else {
      x.k = testing::Upload(be, k, {total_q, c.kv_heads, c.head_dim}, t);
      x.v = testing::Upload(be, v, {total_q, c.kv_heads, c.head_dim}, t);
      p.k = x.k.data;
      p.v = x.v.data;
    }
    p.cu_seqlens_q = x.cu.as<int32_t>();
    p.context_lens = x.ctx.as<int32_t>();
    p.cu_seqlens_q_host = cu.data();
    p.context_lens_host = ctx.data();
    p.num_seqs = num_seqs;
    p.num_heads = c.heads;
    p.num_kv_heads = c.kv_heads;
    p.head_dim = c.head_dim;
    p.scale = c.scale_mul / std::sqrt(static_cast<float>(c.head_dim));
    p.causal = c.causal;
    if (c.probs) {
      x.probs = be.Alloc({std::max<int64_t>(probs_total, 1)}, DType::kF32);
      Poison(be, x.probs);
      x.probs_offsets = be.Alloc({num_seqs}, DType::kI64);
      be.CopyFromHost(probs_offsets.data(), x.probs_offsets);
      p.probs = x.probs.as<float>();
      p.probs_offsets = x.probs_offsets.as<int64_t>();
    }
    be.Attention(p);
    be.Synchronize();
  };
  AttnTensors ct, gt;
  AttentionParams cp, gp;
  run(*cpu, DType::kF32, ct, cp);
  run(*gpu, dtype, gt, gp);

  std::string plan = "(plan not available: no CUDA in this build)";
#if defined(INFER_WITH_CUDA)
  const cuda::AttentionPlan pl = cuda::PlanAttention(gp);
  plan = pl.Describe();
  const Path expected = ExpectedPath(c, dtype);
  const Path got_path = pl.reference                ? Path::kReference
                        : pl.decode && pl.prefill ? Path::kMixed
                        : pl.decode               ? Path::kDecode
                                                  : Path::kPrefill;
  EXPECT_STREQ(PathName(got_path), PathName(expected)) << shape.str() << "\nplan: " << plan;
  if (c.name.find("many_splits") != std::string::npos) {
    EXPECT_GT(pl.decode_splits, 1) << "a 32k context should be split: " << plan;
  }
  if (c.name.find("one_split") != std::string::npos) {
    EXPECT_EQ(pl.decode_splits, 1) << "contexts <= 256 fit one split: " << plan;
  }
#endif
  std::cout << "[ shape    ] " << GetParam().TestName() << ": " << shape.str() << "\n"
            << "[ plan     ] " << plan << std::endl;

  // ---- Compare outputs.
  const std::vector<float> ref = Download(*cpu, ct.out);
  const std::vector<float> got = Download(*gpu, gt.out);
  const double err = RelativeError(got, ref);
  std::cout << "[ rel err  ] " << err << " (tolerance " << Tolerance(dtype) << ")" << std::endl;
  EXPECT_LE(err, Tolerance(dtype)) << shape.str() << "\nplan: " << plan;
  if (!(err <= Tolerance(dtype))) {
    // Which (sequence, head, row) went wrong: the worst ones, with their lengths.
    struct Bad { double err; int s, row, h; };
    std::vector<Bad> bad;
    for (int s = 0; s < num_seqs; ++s) {
      for (int r = cu[s]; r < cu[s + 1]; ++r) {
        for (int h = 0; h < c.heads; ++h) {
          const size_t off = (static_cast<size_t>(r) * c.heads + h) * c.head_dim;
          std::vector<float> a(got.begin() + off, got.begin() + off + c.head_dim);
          std::vector<float> b(ref.begin() + off, ref.begin() + off + c.head_dim);
          const double e = RelativeError(a, b);
          if (!(e <= Tolerance(dtype))) bad.push_back({e, s, r - cu[s], h});
        }
      }
    }
    std::sort(bad.begin(), bad.end(), [](const Bad& x, const Bad& y) {
      return !(x.err <= y.err);  // NaN/inf first
    });
    ADD_FAILURE() << bad.size() << " (row, head) pairs over tolerance; worst:";
    for (size_t i = 0; i < bad.size() && i < 8; ++i) {
      const Bad& b = bad[i];
      std::cout << "    seq " << b.s << " (q_len " << c.q_lens[b.s] << ", ctx " << ctx[b.s]
                << ") row " << b.row << " head " << b.h << ": rel err " << b.err << std::endl;
    }
  }

  if (c.probs) {
    const std::vector<float> pr = Download(*cpu, ct.probs);
    const std::vector<float> pg = Download(*gpu, gt.probs);
    int64_t bad = 0;
    int64_t first = -1;
    for (int64_t i = 0; i < probs_total; ++i) {
      const bool ok = pr[i] == 0.0f ? pg[i] == 0.0f
                                    : std::fabs(pg[i] - pr[i]) <= 1e-6 + 1e-4 * std::fabs(pr[i]);
      if (!ok) {
        if (first < 0) first = i;
        ++bad;
      }
    }
    EXPECT_EQ(bad, 0) << "probabilities differ (masked ones must be exactly 0); first at flat "
                      << "index " << first << ": cuda "
                      << (first >= 0 ? pg[first] : 0.0f) << " cpu "
                      << (first >= 0 ? pr[first] : 0.0f) << "\n"
                      << shape.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttentionTest, ::testing::ValuesIn(Runs()),
                         [](const ::testing::TestParamInfo<AttnRun>& info) {
                           return info.param.TestName();
                         });

// ---- WriteKv: the same scatter on both backends; caches must match exactly (a copy of values
// already representable in the dtype). Rows of 36 bytes exercise the narrow-vector path.
struct KvCase {
  int tokens, kv_heads, head_dim, block_size, num_blocks;
};

class CudaWriteKvTest
    : public ::testing::TestWithParam<std::tuple<DType, int /*case index*/>> {};

// "" when equal, else how many elements differ and the first one.
std::string Mismatches(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return "sizes differ";
  size_t n = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && !(std::isnan(got[i]) && std::isnan(want[i]))) {
      if (n++ == 0) first = i;
    }
  }
  if (n == 0) return "";
  return std::to_string(n) + " elements differ, first at " + std::to_string(first) + ": " +
         std::to_string(got[first]) + " vs " + std::to_string(want[first]);
}

const KvCase kKvCases[] = {{50, 2, 64, 16, 8}, {7, 3, 6, 8, 4}, {33, 1, 256, 32, 3}};

TEST_P(CudaWriteKvTest, MatchesCpu) {
  const DType dtype = std::get<0>(GetParam());
  const KvCase kc = kKvCases[std::get<1>(GetParam())];
  INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
  std::unique_ptr<Backend> cpu = MakeCpuBackend();
  std::cout << "[ shape    ] " << DTypeName(dtype) << " tokens=" << kc.tokens
            << " kv_heads=" << kc.kv_heads << " head_dim=" << kc.head_dim
            << " block_size=" << kc.block_size << " num_blocks=" << kc.num_blocks << std::endl;
  const int64_t row = static_cast<int64_t>(kc.kv_heads) * kc.head_dim;
  const int64_t slots = static_cast<int64_t>(kc.num_blocks) * kc.block_size;
  ASSERT_LE(kc.tokens, slots);
  std::vector<int32_t> all(slots);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 rng(kc.tokens);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<int32_t> slot_mapping(all.begin(), all.begin() + kc.tokens);
  const std::vector<float> k = RandomValues(kc.tokens * row, 1, dtype);
  const std::vector<float> v = RandomValues(kc.tokens * row, 2, dtype);
  const std::vector<float> kc0 = RandomValues(slots * row, 3, dtype);
  const std::vector<float> vc0 = RandomValues(slots * row, 4, dtype);
  const std::vector<int64_t> cache_shape = {kc.num_blocks, kc.block_size, kc.kv_heads,
                                            kc.head_dim};

  auto run = [&](Backend& be, DType t, const std::vector<int32_t>& slots_used) {
    Tensor kt = testing::Upload(be, k, {kc.tokens, kc.kv_heads, kc.head_dim}, t);
    Tensor vt = testing::Upload(be, v, {kc.tokens, kc.kv_heads, kc.head_dim}, t);
    Tensor kct = testing::Upload(be, kc0, cache_shape, t);
    Tensor vct = testing::Upload(be, vc0, cache_shape, t);
    Tensor sm = be.Alloc({kc.tokens}, DType::kI32);
    be.CopyFromHost(slots_used.data(), sm);
    KvWriteParams p;
    p.dtype = t;
    p.k = kt.data;
    p.v = vt.data;
    p.k_cache = kct.data;
    p.v_cache = vct.data;
    p.slot_mapping = sm.as<int32_t>();
    p.num_tokens = kc.tokens;
    p.num_kv_heads = kc.kv_heads;
    p.head_dim = kc.head_dim;
    p.block_size = kc.block_size;
    be.WriteKv(p);
    be.Synchronize();
    return std::make_pair(Download(be, kct), Download(be, vct));
  };
  const auto [ref_k, ref_v] = run(*cpu, DType::kF32, slot_mapping);
  const auto [got_k, got_v] = run(*gpu, dtype, slot_mapping);
  EXPECT_EQ(Mismatches(got_k, ref_k), "") << "k_cache";
  EXPECT_EQ(Mismatches(got_v, ref_v), "") << "v_cache";

  // Negative slots (padding) are skipped on CUDA: those rows keep their old contents.
  std::vector<int32_t> with_padding = slot_mapping;
  for (size_t i = 0; i < with_padding.size(); i += 3) with_padding[i] = -1;
  std::vector<float> exp_k = kc0, exp_v = vc0;
  for (int i = 0; i < kc.tokens; ++i) {
    if (with_padding[i] < 0) continue;
    std::copy_n(k.begin() + i * row, row, exp_k.begin() + with_padding[i] * row);
    std::copy_n(v.begin() + i * row, row, exp_v.begin() + with_padding[i] * row);
  }
  const auto [pad_k, pad_v] = run(*gpu, dtype, with_padding);
  EXPECT_EQ(Mismatches(pad_k, exp_k), "") << "k_cache with padding slots";
  EXPECT_EQ(Mismatches(pad_v, exp_v), "") << "v_cache with padding slots";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaWriteKvTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16,
                                                              DType::kF32),
                                            ::testing::Values(0, 1, 2)),
                         [](const ::testing::TestParamInfo<std::tuple<DType, int>>& info) {
                           return std::string(DTypeName(std::get<0>(info.param))) + "_case" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace infer::kernels
