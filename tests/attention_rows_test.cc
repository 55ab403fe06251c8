// The CPU backend's attention for decode tokens and chunks shorter than the GEMM path's 16
// queries: the per-row path (four keys and eight exponentials at a time, the output row in
// registers 64 columns at a time) and, for single-token rows without a probability capture, the
// one-pass decode path (all heads per cache block, online softmax, heads split over threads).
// Every tail of those (head sizes off 8 and 64, key counts off 4, 8 and the block, one key)
// against a double-precision reference, both paths, plus what NaN inputs give.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "golden_util.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels {
namespace {

struct Rows {
  int heads, kv_heads, head_dim, block_size;
  std::vector<int> q_lens, ctx_lens;  // every q_len < 16: the per-row path
};

struct Result {
  std::vector<float> out, want, probs, want_probs;
};

// capture: ask for the probabilities too (which keeps single-token rows on the per-row path).
Result RunAttention(const Rows& c, uint32_t seed, bool capture, float nan_at_key = -1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int d = c.head_dim, n = static_cast<int>(c.q_lens.size());
  int total_q = 0, max_blocks = 0;
  for (int s = 0; s < n; ++s) {
    total_q += c.q_lens[s];
    max_blocks = std::max(max_blocks, (c.ctx_lens[s] + c.block_size - 1) / c.block_size);
  }
  const int num_blocks = max_blocks * n;
  std::vector<int32_t> tables(n * max_blocks);
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), rng);
  const int64_t kv_row = int64_t{c.kv_heads} * d;
  std::vector<float> kc(num_blocks * c.block_size * kv_row), vc(kc.size()),
      q(int64_t{total_q} * c.heads * d);
  for (float& x : kc) x = 2.0f * g(rng);  // sharp enough that the softmax is not flat
  for (float& x : vc) x = g(rng);
  for (float& x : q) x = g(rng);
  if (nan_at_key >= 0) kc[static_cast<int64_t>(nan_at_key) * kv_row] = NAN;
  std::vector<int32_t> cu = {0};
  for (int s = 0; s < n; ++s) cu.push_back(cu.back() + c.q_lens[s]);
  std::vector<int64_t> offs;
  int64_t total_p = 0;
  for (int s = 0; s < n; ++s) {
    offs.push_back(total_p);
    total_p += int64_t{c.heads} * c.q_lens[s] * c.ctx_lens[s];
  }
  Result r;
  r.out.assign(q.size(), -7.0f);
  r.probs.assign(total_p, -7.0f);
  AttentionParams p;
  p.q = q.data();
  p.out = r.out.data();
  p.k_cache = kc.data();
  p.v_cache = vc.data();
  p.block_tables = tables.data();
  p.max_blocks_per_seq = max_blocks;
  p.block_size = c.block_size;
  p.cu_seqlens_q = cu.data();
  p.context_lens = c.ctx_lens.data();
  p.num_seqs = n;
  p.num_heads = c.heads;
  p.num_kv_heads = c.kv_heads;
  p.head_dim = d;
  p.scale = 1.0f / std::sqrt(static_cast<float>(d));
  p.causal = true;
  if (capture) {
    p.probs = r.probs.data();
    p.probs_offsets = offs.data();
  }
  cpu::Attention(p);

  r.want.assign(q.size(), 0.0f);
  r.want_probs.assign(total_p, 0.0f);
  for (int s = 0; s < n; ++s) {
    const int ql = c.q_lens[s], ctx = c.ctx_lens[s];
    auto row = [&](const std::vector<float>& cache, int pos, int kh) {
      const int32_t b = tables[s * max_blocks + pos / c.block_size];
      return cache.data() + (int64_t{b} * c.block_size + pos % c.block_size) * kv_row + kh * d;
    };
    for (int h = 0; h < c.heads; ++h) {
      const int kh = h / (c.heads / c.kv_heads);
      for (int i = 0; i < ql; ++i) {
        const float* qi = q.data() + (int64_t{cu[s] + i} * c.heads + h) * d;
        const int vis = ctx - ql + i + 1;
        std::vector<double> sc(vis);
        double mx = -1e300, den = 0;
        for (int j = 0; j < vis; ++j) {
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += double(qi[e]) * row(kc, j, kh)[e];
          sc[j] = dot * p.scale;
          mx = std::max(mx, sc[j]);
        }
        for (double& x : sc) den += (x = std::exp(x - mx));
        float* o = r.want.data() + (int64_t{cu[s] + i} * c.heads + h) * d;
        for (int e = 0; e < d; ++e) {
          double acc = 0;
          for (int j = 0; j < vis; ++j) acc += sc[j] / den * row(vc, j, kh)[e];
          o[e] = static_cast<float>(acc);
        }
        float* pr = r.want_probs.data() + offs[s] + (int64_t{h} * ql + i) * ctx;
        for (int j = 0; j < vis; ++j) pr[j] = static_cast<float>(sc[j] / den);
      }
    }
  }
  return r;
}

TEST(AttentionRows, MatchesReferenceOnEveryTail) {
  uint32_t seed = 1;
  for (bool capture : {true, false}) {
    for (int d : {1, 4, 8, 12, 20, 32, 48, 64, 72, 80, 128, 136}) {
      for (int block : {1, 4, 16}) {
        // Decode rows with contexts around the multiples of 4, 8 and the block, and a few short
        // chunks; 4 query heads over 2 kv heads.
        Rows c{4, 2, d, block, {1, 1, 1, 1, 1, 1, 1, 3, 15, 1}, {1, 3, 4, 5, 8, 9, 37, 11, 40, 17}};
        Result r = RunAttention(c, seed++, capture);
        EXPECT_LT(testing::RelativeError(r.out, r.want), 1e-5)
            << "head_dim " << d << " block " << block << " capture " << capture;
        if (capture) {
          EXPECT_LT(testing::RelativeError(r.probs, r.want_probs), 1e-5) << "head_dim " << d;
        }
      }
    }
  }
}

TEST(AttentionRows, LongContextAndGptShapes) {
  // GPT-2 small's heads (12 x 64) over contexts up to 1000, 16 decode rows, and one row alone
  // (batch-1 decode: the heads are split over the threads).
  for (int rows : {16, 1}) {
    Rows c{12, 12, 64, 16, std::vector<int>(rows, 1), {}};
    for (int s = 0; s < rows; ++s) c.ctx_lens.push_back(1000 - 37 * s);
    for (bool capture : {true, false}) {
      Result r = RunAttention(c, 99, capture);
      EXPECT_LT(testing::RelativeError(r.out, r.want), 1e-5) << rows << " rows";
      if (capture) {
        EXPECT_LT(testing::RelativeError(r.probs, r.want_probs), 1e-5);
      }
    }
  }
}

TEST(AttentionRows, ContiguousKeysOneToken) {
  // Without a cache (block_tables null) a one-token sequence attends to its own key.
  std::mt19937 rng(4);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int heads = 3, d = 16, n = 2;
  std::vector<float> q(n * heads * d), k(q.size()), v(q.size()), out(q.size(), -7.0f);
  for (auto* t : {&q, &k, &v}) {
    for (float& x : *t) x = g(rng);
  }
  std::vector<int32_t> cu = {0, 1, 2}, ctx = {1, 1};
  AttentionParams p;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  p.cu_seqlens_q = cu.data();
  p.context_lens = ctx.data();
  p.num_seqs = n;
  p.num_heads = p.num_kv_heads = heads;
  p.head_dim = d;
  p.scale = 0.25f;
  cpu::Attention(p);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], v[i]) << i;  // softmax of one
}

TEST(AttentionRows, NanKeyMakesTheRowNan) {
  // A NaN key (block 0, slot 0 of the permuted cache: some sequence's key) poisons the row that
  // sees it, as PyTorch's softmax does; it is never silently dropped. Other rows are unaffected.
  Rows c{1, 1, 16, 4, {1, 1, 1}, {5, 6, 7}};
  for (bool capture : {true, false}) {
    Result r = RunAttention(c, 5, capture, /*nan_at_key=*/0);
    int nan_rows = 0;
    for (size_t row = 0; row < r.out.size() / 16; ++row) {
      const bool nan = std::isnan(r.out[row * 16]);
      for (int e = 0; e < 16; ++e) EXPECT_EQ(nan, std::isnan(r.out[row * 16 + e]));
      nan_rows += nan;
      if (!nan) {
        for (int e = 0; e < 16; ++e) EXPECT_NEAR(r.out[row * 16 + e], r.want[row * 16 + e], 1e-5);
      }
    }
    EXPECT_EQ(nan_rows, 1) << "capture " << capture;
  }
}

}  // namespace
}  // namespace infer::kernels
