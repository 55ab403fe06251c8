// CPU backend ops against naive double-precision references on random inputs: paged attention
// (random block tables, chunked queries, GQA, causal and not, probability capture), LayerNorm,
// activations and Linear. The CUDA backend will be held to these same references.
#include <cmath>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "golden_util.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

struct AttnCase {
  int num_seqs, heads, kv_heads, head_dim, block_size;
  bool causal;
  std::vector<int> q_lens, ctx_lens;
};

// Reference: per sequence, full K/V [ctx, kv_heads, d] in double.
void CheckPaged(const AttnCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int d = c.head_dim;
  int total_q = 0, max_blocks = 0;
  for (int s = 0; s < c.num_seqs; ++s) {
    total_q += c.q_lens[s];
    max_blocks = std::max(max_blocks, (c.ctx_lens[s] + c.block_size - 1) / c.block_size);
  }
  const int num_blocks = max_blocks * c.num_seqs + 3;
  // A random permutation of blocks so tables are not contiguous.
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> tables(c.num_seqs * max_blocks, -1);
  int next = 0;
  for (int s = 0; s < c.num_seqs; ++s) {
    for (int b = 0; b < (c.ctx_lens[s] + c.block_size - 1) / c.block_size; ++b) {
      tables[s * max_blocks + b] = perm[next++];
    }
  }
  const int64_t kv_row = int64_t{c.kv_heads} * d;
  std::vector<float> k_cache = Random(num_blocks * c.block_size * kv_row, rng);
  std::vector<float> v_cache = Random(num_blocks * c.block_size * kv_row, rng);
  std::vector<float> q = Random(total_q * c.heads * d, rng);
  std::vector<float> out(total_q * c.heads * d, NAN);
  std::vector<int32_t> cu = {0};
  for (int s = 0; s < c.num_seqs; ++s) cu.push_back(cu.back() + c.q_lens[s]);
  std::vector<int64_t> offs;
  int64_t total_p = 0;
  for (int s = 0; s < c.num_seqs; ++s) {
    offs.push_back(total_p);
    total_p += int64_t{c.heads} * c.q_lens[s] * c.ctx_lens[s];
  }
  std::vector<float> probs(total_p, NAN);

  AttentionParams p;
  p.q = q.data();
  p.out = out.data();
  p.k_cache = k_cache.data();
  p.v_cache = v_cache.data();
  p.block_tables = tables.data();
  p.max_blocks_per_seq = max_blocks;
  p.block_size = c.block_size;
  p.cu_seqlens_q = cu.data();
  p.context_lens = c.ctx_lens.data();
  p.num_seqs = c.num_seqs;
  p.num_heads = c.heads;
  p.num_kv_heads = c.kv_heads;
  p.head_dim = d;
  p.scale = 1.0f / std::sqrt(static_cast<float>(d));
  p.causal = c.causal;
  p.probs = probs.data();
  p.probs_offsets = offs.data();
  cpu::Attention(p);

  std::vector<float> want(out.size()), want_p(probs.size());
  for (int s = 0; s < c.num_seqs; ++s) {
    const int ql = c.q_lens[s], ctx = c.ctx_lens[s];
    auto kv = [&](const std::vector<float>& cache, int pos, int kh) {
      int32_t blk = tables[s * max_blocks + pos / c.block_size];
      return cache.data() + (int64_t{blk} * c.block_size + pos % c.block_size) * kv_row + kh * d;
    };
    for (int h = 0; h < c.heads; ++h) {
      const int kh = h / (c.heads / c.kv_heads);
      for (int i = 0; i < ql; ++i) {
        const float* qi = q.data() + (int64_t{cu[s] + i} * c.heads + h) * d;
        const int vis = c.causal ? ctx - ql + i + 1 : ctx;
        std::vector<double> sc(vis);
        double mx = -1e300, den = 0;
        for (int j = 0; j < vis; ++j) {
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += double(qi[e]) * kv(k_cache, j, kh)[e];
          sc[j] = dot * p.scale;
          mx = std::max(mx, sc[j]);
        }
        for (double& x : sc) den += (x = std::exp(x - mx));
        float* o = want.data() + (int64_t{cu[s] + i} * c.heads + h) * d;
        for (int e = 0; e < d; ++e) {
          double acc = 0;
          for (int j = 0; j < vis; ++j) acc += sc[j] / den * kv(v_cache, j, kh)[e];
          o[e] = static_cast<float>(acc);
        }
        float* pr = want_p.data() + offs[s] + (int64_t{h} * ql + i) * ctx;
        for (int j = 0; j < ctx; ++j) pr[j] = j < vis ? static_cast<float>(sc[j] / den) : 0.0f;
      }
    }
  }
  EXPECT_LT(testing::RelativeError(out, want), 1e-5);
  EXPECT_LT(testing::RelativeError(probs, want_p), 1e-5);
}

TEST(CpuOps, PagedAttentionMatchesReference) {
  // Prefill, decode, chunked prefill; block boundaries; one token; GQA; bidirectional.
  CheckPaged({1, 4, 4, 16, 4, true, {7}, {7}}, 1);
  CheckPaged({3, 4, 4, 16, 4, true, {1, 1, 1}, {1, 9, 16}}, 2);
  CheckPaged({2, 8, 2, 32, 16, true, {5, 17}, {21, 17}}, 3);
  CheckPaged({2, 6, 3, 64, 8, false, {9, 3}, {9, 3}}, 4);
  CheckPaged({1, 2, 1, 8, 1, true, {33}, {40}}, 5);
  // Causal chunks longer than one query tile (64), with and without a cached prefix.
  CheckPaged({2, 4, 2, 32, 16, true, {150, 70}, {170, 70}}, 6);
  CheckPaged({1, 2, 2, 64, 16, false, {130}, {130}}, 7);
}

TEST(CpuOps, ContiguousAttentionEqualsPagedWithIdentityTable) {
  std::mt19937 rng(7);
  const int t = 11, heads = 4, d = 16;
  std::vector<float> q = Random(t * heads * d, rng), k = Random(t * heads * d, rng),
                     v = Random(t * heads * d, rng), a(t * heads * d), b(t * heads * d);
  std::vector<int32_t> cu = {0, t}, ctx = {t}, table = {0};
  AttentionParams p;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = a.data();
  p.cu_seqlens_q = cu.data();
  p.context_lens = ctx.data();
  p.num_seqs = 1;
  p.num_heads = p.num_kv_heads = heads;
  p.head_dim = d;
  p.scale = 0.25f;
  p.causal = false;
  cpu::Attention(p);
  AttentionParams pp = p;
  pp.k = pp.v = nullptr;
  pp.k_cache = k.data();
  pp.v_cache = v.data();
  pp.block_tables = table.data();
  pp.max_blocks_per_seq = 1;
  pp.block_size = t;
  pp.out = b.data();
  cpu::Attention(pp);
  EXPECT_LT(testing::RelativeError(a, b), 1e-7);
}

TEST(CpuOps, LayerNormLinearAndActivationsMatchReference) {
  std::mt19937 rng(3);
  auto be = MakeCpuBackend();
  const int rows = 5, n = 37, out_n = 13;
  std::vector<float> x = Random(rows * n, rng, 3.0f), g = Random(n, rng), b = Random(n, rng);
  Tensor tx = be->Alloc({rows, n}), tg = be->Alloc({n}), tb = be->Alloc({n}), ty = be->Alloc({rows, n});
  be->CopyFromHost(x.data(), tx);
  be->CopyFromHost(g.data(), tg);
  be->CopyFromHost(b.data(), tb);
  be->LayerNorm(tx, tg, tb, 1e-5f, ty);
  std::vector<float> y(rows * n), want(rows * n);
  be->CopyToHost(ty, y.data());
  for (int r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int j = 0; j < n; ++j) m += x[r * n + j];
    m /= n;
    for (int j = 0; j < n; ++j) v += (x[r * n + j] - m) * (x[r * n + j] - m);
    v /= n;
    for (int j = 0; j < n; ++j) want[r * n + j] = static_cast<float>((x[r * n + j] - m) / std::sqrt(v + 1e-5) * g[j] + b[j]);
  }
  EXPECT_LT(testing::RelativeError(y, want), 1e-6);

  std::vector<float> w = Random(out_n * n, rng), bias = Random(out_n, rng);
  Tensor tw = be->Alloc({out_n, n}), tbias = be->Alloc({out_n}), tl = be->Alloc({rows, out_n});
  be->CopyFromHost(w.data(), tw);
  be->CopyFromHost(bias.data(), tbias);
  for (Activation act : {Activation::kNone, Activation::kGeluTanh, Activation::kGeluErf,
                         Activation::kRelu, Activation::kSilu, Activation::kTanh}) {
    be->Linear(tx, tw, &tbias, act, tl);
    std::vector<float> l(rows * out_n), lw(rows * out_n);
    be->CopyToHost(tl, l.data());
    for (int r = 0; r < rows; ++r) {
      for (int o = 0; o < out_n; ++o) {
        double acc = bias[o];
        for (int j = 0; j < n; ++j) acc += double(x[r * n + j]) * w[o * n + j];
        double z = acc;
        switch (act) {
          case Activation::kNone: break;
          case Activation::kGeluTanh:
            z = 0.5 * acc * (1 + std::tanh(std::sqrt(2 / M_PI) * (acc + 0.044715 * acc * acc * acc)));
            break;
          case Activation::kGeluErf: z = 0.5 * acc * (1 + std::erf(acc / std::sqrt(2.0))); break;
          case Activation::kRelu: z = acc > 0 ? acc : 0; break;
          case Activation::kSilu: z = acc / (1 + std::exp(-acc)); break;
          case Activation::kTanh: z = std::tanh(acc); break;
        }
        lw[r * out_n + o] = static_cast<float>(z);
      }
    }
    EXPECT_LT(testing::RelativeError(l, lw), 1e-5) << static_cast<int>(act);
  }
}

// The vectorised GELUs against double-precision formulas over a dense grid, saturation included.
TEST(CpuOps, GeluApproximationsStayWithinFloatRounding) {
  double worst_tanh = 0, worst_erf = 0;
  for (int i = -40000; i <= 40000; ++i) {
    const float x = i * 0.0005f;
    const double xd = x;
    const double ref_tanh =
        0.5 * xd * (1 + std::tanh(std::sqrt(2 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
    const double ref_erf = 0.5 * xd * (1 + std::erf(xd / std::sqrt(2.0)));
    const double scale = std::max(1.0, std::fabs(xd));
    worst_tanh = std::max(worst_tanh, std::fabs(cpu::ActivateScalar(x, Activation::kGeluTanh) - ref_tanh) / scale);
    worst_erf = std::max(worst_erf, std::fabs(cpu::ActivateScalar(x, Activation::kGeluErf) - ref_erf) / scale);
  }
  EXPECT_LT(worst_tanh, 1e-6);
  EXPECT_LT(worst_erf, 1e-6);
  EXPECT_EQ(cpu::ActivateScalar(-200.0f, Activation::kGeluTanh), -0.0f);
  EXPECT_EQ(cpu::ActivateScalar(200.0f, Activation::kGeluErf), 200.0f);
}

}  // namespace
}  // namespace infer::kernels
