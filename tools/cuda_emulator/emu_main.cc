// Runs cuda::Attention (emulated kernels) against cpu::Attention on many shapes.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "emu_cuda.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_plan.h"
#include "kernels/half_convert.h"

using namespace infer::kernels;

namespace {

float RoundTo(float v, DType dt) {
  if (dt == DType::kBF16) return Bf16ToFloat(FloatToBf16(v));
  if (dt == DType::kF16) {
    uint16_t h;
    float f;
    FloatsToHalf(&v, &h, 1);
    HalfToFloats(&h, &f, 1);
    return f;
  }
  return v;
}

std::vector<char> ToDevice(const std::vector<float>& v, DType dt) {
  std::vector<char> out(v.size() * DTypeSize(dt) + 64);
  // 16-byte aligned start: std::vector<char> data is malloc-aligned (16) already.
  if (dt == DType::kF32) {
    std::memcpy(out.data(), v.data(), v.size() * 4);
  } else if (dt == DType::kF16) {
    FloatsToHalf(v.data(), reinterpret_cast<uint16_t*>(out.data()), v.size());
  } else {
    FloatsToBf16(v.data(), reinterpret_cast<uint16_t*>(out.data()), v.size());
  }
  return out;
}
std::vector<float> FromDevice(const std::vector<char>& b, size_t n, DType dt) {
  std::vector<float> v(n);
  if (dt == DType::kF32) {
    std::memcpy(v.data(), b.data(), n * 4);
  } else if (dt == DType::kF16) {
    HalfToFloats(reinterpret_cast<const uint16_t*>(b.data()), v.data(), n);
  } else {
    Bf16ToFloats(reinterpret_cast<const uint16_t*>(b.data()), v.data(), n);
  }
  return v;
}

struct Case {
  std::string name;
  DType dtype;
  int H, KVH, D;
  std::vector<int> q_lens, ctx_lens;
  bool paged;
  int block_size;
  bool causal;
  bool probs;
};

double Tol(DType dt) {
  return dt == DType::kBF16 ? 1.6e-2 : dt == DType::kF16 ? 2e-3 : 1e-5;
}

bool RunCase(const Case& c, uint64_t seed) {
  const int S = static_cast<int>(c.q_lens.size());
  std::vector<int32_t> cu(S + 1, 0), ctx(S);
  for (int s = 0; s < S; ++s) {
    cu[s + 1] = cu[s] + c.q_lens[s];
    ctx[s] = c.paged ? c.ctx_lens[s] : c.q_lens[s];
  }
  const int total_q = cu[S];
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&] { return RoundTo(nd(rng), c.dtype); };
  std::vector<float> q(static_cast<size_t>(total_q) * c.H * c.D);
  for (auto& x : q) x = rnd();
  const int64_t kv_row = static_cast<int64_t>(c.KVH) * c.D;
  std::vector<float> k, v, kc, vc;
  std::vector<int32_t> tables;
  int max_blocks = 0;
  if (c.paged) {
    int total_blocks = 3;
    for (int s = 0; s < S; ++s) {
      const int nb = (ctx[s] + c.block_size - 1) / c.block_size;
      max_blocks = std::max(max_blocks, nb);
      total_blocks += nb;
    }
    max_blocks += 1;
    std::vector<int32_t> perm(total_blocks);
    for (int i = 0; i < total_blocks; ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    tables.assign(static_cast<size_t>(S) * max_blocks, -7777777);
    int next = 0;
    for (int s = 0; s < S; ++s) {
      const int nb = (ctx[s] + c.block_size - 1) / c.block_size;
      for (int b = 0; b < nb; ++b) tables[s * max_blocks + b] = perm[next++];
    }
    kc.assign(static_cast<size_t>(total_blocks) * c.block_size * kv_row, NAN);
    vc = kc;
    for (int s = 0; s < S; ++s) {
      for (int pos = 0; pos < ctx[s]; ++pos) {
        const int64_t slot =
            static_cast<int64_t>(tables[s * max_blocks + pos / c.block_size]) * c.block_size +
            pos % c.block_size;
        for (int64_t e = 0; e < kv_row; ++e) {
          kc[slot * kv_row + e] = rnd();
          vc[slot * kv_row + e] = rnd();
        }
      }
    }
  } else {
    k.resize(static_cast<size_t>(total_q) * kv_row);
    v.resize(k.size());
    for (auto& x : k) x = rnd();
    for (auto& x : v) x = rnd();
  }
  std::vector<int64_t> poff(S);
  int64_t probs_total = 0;
  for (int s = 0; s < S; ++s) {
    poff[s] = probs_total;
    probs_total += static_cast<int64_t>(c.H) * c.q_lens[s] * ctx[s];
  }

  AttentionParams p;
  p.dtype = DType::kF32;
  p.num_seqs = S;
  p.num_heads = c.H;
  p.num_kv_heads = c.KVH;
  p.head_dim = c.D;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.D));
  p.causal = c.causal;
  p.cu_seqlens_q = cu.data();
  p.context_lens = ctx.data();
  p.cu_seqlens_q_host = cu.data();
  p.context_lens_host = ctx.data();
  std::vector<float> out_ref(q.size()), probs_ref(c.probs ? probs_total : 0);
  p.q = q.data();
  p.out = out_ref.data();
  if (c.paged) {
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    p.block_tables = tables.data();
    p.max_blocks_per_seq = max_blocks;
    p.block_size = c.block_size;
  } else {
    p.k = k.data();
    p.v = v.data();
  }
  if (c.probs) {
    p.probs = probs_ref.data();
    p.probs_offsets = poff.data();
  }
  cpu::Attention(p);

  // Emulated device run.
  std::vector<char> qd = ToDevice(q, c.dtype), kd, vd, kcd, vcd;
  std::vector<char> outd(q.size() * DTypeSize(c.dtype), static_cast<char>(0xFF));
  std::vector<float> probs_d(c.probs ? probs_total : 0, NAN);
  AttentionParams g = p;
  g.dtype = c.dtype;
  g.q = qd.data();
  g.out = outd.data();
  if (c.paged) {
    kcd = ToDevice(kc, c.dtype);
    vcd = ToDevice(vc, c.dtype);
    g.k_cache = kcd.data();
    g.v_cache = vcd.data();
  } else {
    kd = ToDevice(k, c.dtype);
    vd = ToDevice(v, c.dtype);
    g.k = kd.data();
    g.v = vd.data();
  }
  if (c.probs) g.probs = probs_d.data();
  const size_t ws = cuda::AttentionWorkspaceBytes(g);
  std::vector<float> workspace(ws / 4 + 1, NAN);
  const cuda::AttentionPlan plan = cuda::PlanAttention(g, ws);
  const long long coll0 = emu::rt().collectives;
  size_t ws_given = ws;
  if (const char* d = std::getenv("EMU_WS_DIV")) ws_given = ws / std::atoi(d);
  cuda::Attention(g, ws ? workspace.data() : nullptr, ws_given, nullptr);
  if (ws_given != ws) std::printf("     (workspace %zu of %zu: %s)\n", ws_given, ws, cuda::PlanAttention(g, ws_given).Describe().c_str());
  std::vector<float> out = FromDevice(outd, q.size(), c.dtype);

  double num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) nan = true;
    const double d = static_cast<double>(out[i]) - out_ref[i];
    num += d * d;
    den += static_cast<double>(out_ref[i]) * out_ref[i];
  }
  const double rel = nan ? INFINITY : std::sqrt(num / std::max(den, 1e-30));
  bool ok = rel <= Tol(c.dtype);
  int bad_probs = 0;
  double max_perr = 0;
  if (c.probs) {
    for (int64_t i = 0; i < probs_total; ++i) {
      const double e = std::fabs(static_cast<double>(probs_d[i]) - probs_ref[i]);
      if (!(e <= 1e-5 + 1e-4 * std::fabs(probs_ref[i]))) ++bad_probs;
      if (std::isfinite(e)) max_perr = std::max(max_perr, e);
    }
    ok = ok && bad_probs == 0;
  }
  std::printf("%-4s %-44s %-5s H=%d KVH=%d D=%d seqs=%d total_q=%d rel=%.3g%s probs_bad=%d "
              "max_perr=%.2g | %s | collectives=%lld\n",
              ok ? "OK" : "FAIL", c.name.c_str(), DTypeName(c.dtype), c.H, c.KVH, c.D, S,
              total_q, rel, nan ? "(NaN)" : "", bad_probs, max_perr, plan.Describe().c_str(),
              emu::rt().collectives - coll0);
  if (!ok) {
    // First mismatching rows.
    int shown = 0;
    for (int r = 0; r < total_q && shown < 6; ++r) {
      for (int h = 0; h < c.H && shown < 6; ++h) {
        double rn = 0, rd = 0;
        for (int e = 0; e < c.D; ++e) {
          const size_t i = (static_cast<size_t>(r) * c.H + h) * c.D + e;
          const double d = out[i] - out_ref[i];
          rn += d * d;
          rd += static_cast<double>(out_ref[i]) * out_ref[i];
        }
        const double rr = std::sqrt(rn / std::max(rd, 1e-30));
        if (!(rr <= Tol(c.dtype) * 3)) {
          const size_t i0 = (static_cast<size_t>(r) * c.H + h) * c.D;
          std::printf("     row %d head %d rel %.3g: got %g %g %g ref %g %g %g\n", r, h, rr,
                      out[i0], out[i0 + 1], out[i0 + 2], out_ref[i0], out_ref[i0 + 1],
                      out_ref[i0 + 2]);
          ++shown;
        }
      }
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = std::getenv("EMU_MODE");  // "early", "late", "seq", "seqlate"
  std::string m = mode ? mode : "early";
  emu::rt().late_copies = m == "late" || m == "seqlate";
  emu::rt().warp_sequential = m == "seq" || m == "seqlate";
  if (const char* sm = std::getenv("EMU_SMS")) emu::g_sm_count = std::atoi(sm);
  const std::string filter = argc > 1 ? argv[1] : "";
  const DType B = DType::kBF16, F = DType::kF16, F32 = DType::kF32;
  std::vector<Case> cases = {
      // Prefill MMA.
      {"prefill d64 causal contiguous 1 seq 70", B, 2, 2, 64, {70}, {70}, false, 0, true, false},
      {"prefill d64 bidir contiguous 2 seqs", F, 2, 1, 64, {33, 64}, {33, 64}, false, 0, false,
       false},
      {"prefill d128 causal paged bs16 chunked", B, 2, 1, 128, {40}, {100}, true, 16, true, false},
      {"prefill d32 causal paged bs8", F, 2, 2, 32, {65, 3}, {65, 130}, true, 8, true, false},
      {"prefill d32 bidir contiguous", B, 3, 3, 32, {17, 1, 80}, {17, 1, 80}, false, 0, false,
       false},
      {"prefill d128 bidir paged bs32 gqa4", F, 4, 1, 128, {20, 66}, {50, 66}, true, 32, false,
       false},
      {"prefill d64 f16 causal paged bs16 one tile", F, 1, 1, 64, {64}, {64}, true, 16, true,
       false},
      // Mixed decode + prefill.
      {"mixed decode+prefill d64 paged", B, 4, 2, 64, {1, 5, 1, 0, 70}, {300, 5, 9, 0, 80}, true,
       16, true, false},
      // Decode.
      {"decode d64 1 split", B, 2, 2, 64, {1, 1}, {7, 200}, true, 16, true, false},
      {"decode d128 gqa4 many splits", B, 8, 2, 128, {1}, {3000}, true, 16, true, false},
      {"decode d128 mqa group8", F, 8, 1, 128, {1, 1}, {600, 1025}, true, 32, true, false},
      {"decode d64 group 12 (chunks)", B, 12, 1, 64, {1}, {700}, true, 16, true, false},
      {"decode d80 group 3", F, 6, 2, 80, {1, 1}, {257, 33}, true, 16, true, false},
      {"decode f32 d64", F32, 4, 4, 64, {1, 1}, {1000, 5}, true, 16, true, false},
      {"decode f32 d256 group2", F32, 4, 2, 256, {1}, {520}, true, 8, true, false},
      {"decode bf16 d256 group8", B, 8, 1, 256, {1}, {300}, true, 16, true, false},
      {"decode bf16 d8", B, 2, 1, 8, {1, 1}, {40, 600}, true, 16, true, false},
      {"decode contiguous ctx1", B, 2, 2, 64, {1, 1, 1}, {1, 1, 1}, false, 0, true, false},
      // Reference.
      {"reference f32 prefill d64 causal paged", F32, 2, 1, 64, {20, 1}, {30, 9}, true, 16, true,
       false},
      {"reference bf16 d96 causal contiguous", B, 2, 2, 96, {19, 5}, {19, 5}, false, 0, true,
       false},
      {"reference probs bf16 d64 paged chunked", B, 2, 1, 64, {7, 1}, {20, 11}, true, 16, true,
       true},
      {"reference probs f32 bidir contiguous", F32, 3, 3, 32, {9, 4}, {9, 4}, false, 0, false,
       true},
  };
  int fails = 0, runs = 0;
  for (const Case& c : cases) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    ++runs;
    if (!RunCase(c, 1000 + runs)) ++fails;
  }
  std::printf("%d/%d cases passed (mode %s)\n", runs - fails, runs, m.c_str());
  return fails ? 1 : 0;
}
