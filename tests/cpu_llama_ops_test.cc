// The CPU reference of the Llama-style ops (RMSNorm, the SiLU-gated MLP activation, rotary
// position embeddings) against independent, straightforward double-precision formulas written
// here, plus known values: rotation by position 0 is the identity, a 90-degree and a 180-degree
// rotation, and transformers' apply_rotary_pos_emb (rotate_half) on a small hand example whose
// expected numbers were printed by transformers 4.46.3 (LlamaRotaryEmbedding, float32).
// The CUDA kernels are held to this CPU backend (tests/cuda_elementwise_test.cc), so these
// tests pin the meaning of the ops without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace infer::kernels {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Tensor Make(Backend& be, const std::vector<float>& v, std::vector<int64_t> shape) {
  Tensor t = be.Alloc(std::move(shape));
  EXPECT_EQ(static_cast<size_t>(t.numel()), v.size());
  be.CopyFromHost(v.data(), t);
  return t;
}

std::vector<float> Get(Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  be.CopyToHost(t, v.data());
  return v;
}

// |got[i] - want[i]| <= tol[i], element by element, naming the first few failures.
void ExpectWithin(const std::vector<float>& got, const std::vector<double>& want,
                  const std::vector<double>& tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_EQ(tol.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= tol[i])) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", want " << want[i]
                    << " (tolerance " << tol[i] << ")";
      if (++failures == 5) return;
    }
  }
}

// |got - want| <= rel * |want| + abs, element by element.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, double rel,
                 double abs, const std::string& what) {
  std::vector<double> tol(want.size());
  for (size_t i = 0; i < want.size(); ++i) tol[i] = rel * std::fabs(want[i]) + abs;
  ExpectWithin(got, want, tol, what);
}

// ---- RMSNorm ----------------------------------------------------------------------------------

std::vector<double> RmsNormRef(const std::vector<float>& x, const std::vector<float>& gamma,
                               double eps, int64_t rows, int64_t n) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0.0;
    for (int64_t j = 0; j < n; ++j) ms += double{x[r * n + j]} * x[r * n + j];
    ms /= static_cast<double>(n);
    const double scale = 1.0 / std::sqrt(ms + eps);
    for (int64_t j = 0; j < n; ++j) y[r * n + j] = x[r * n + j] * scale * gamma[j];
  }
  return y;
}

TEST(CpuRmsNorm, MatchesFormula) {
  auto be = MakeCpuBackend();
  for (int64_t n : {1, 7, 64, 768, 4096}) {
    const int64_t rows = 3;
    const auto x = Random(rows * n, 1 + n, 2.0f);
    const auto gamma = Random(n, 2 + n);
    Tensor xt = Make(*be, x, {rows, n});
    Tensor gt = Make(*be, gamma, {n});
    Tensor yt = Make(*be, std::vector<float>(rows * n, NAN), {rows, n});
    be->RmsNorm(xt, gt, 1e-6f, yt);
    ExpectClose(Get(*be, yt), RmsNormRef(x, gamma, 1e-6, rows, n), 1e-6, 0.0,
                "RmsNorm n=" + std::to_string(n));
    // In place (y aliasing x) gives the same values.
    be->RmsNorm(xt, gt, 1e-6f, xt);
    EXPECT_EQ(Get(*be, xt), Get(*be, yt)) << "in-place RmsNorm n=" << n;
  }
}

TEST(CpuRmsNorm, KnownValueAndEps) {
  auto be = MakeCpuBackend();
  // mean([3, 4]^2) = 12.5: y = [3, 4] / sqrt(12.5) * [1, 2].
  Tensor x = Make(*be, {3.0f, 4.0f}, {1, 2});
  Tensor g = Make(*be, {1.0f, 2.0f}, {2});
  Tensor y = Make(*be, {NAN, NAN}, {1, 2});
  be->RmsNorm(x, g, 0.0f, y);
  ExpectClose(Get(*be, y), {0.848528137423857, 2 * 1.131370849898476}, 1e-7, 0.0, "[3,4]");
  // eps enters under the square root: mean 12.5 + 3.5 = 16, so y = [3, 4] / 4 * [1, 2].
  be->RmsNorm(x, g, 3.5f, y);
  ExpectClose(Get(*be, y), {0.75, 2.0}, 1e-7, 0.0, "[3,4] eps 3.5");
  // A zero row stays zero (no NaN) thanks to eps.
  Tensor z = Make(*be, {0.0f, 0.0f}, {1, 2});
  be->RmsNorm(z, g, 1e-5f, y);
  ExpectClose(Get(*be, y), {0.0, 0.0}, 0.0, 0.0, "zero row");
}

TEST(CpuRmsNorm, AddRmsNormKeepsSumAndMayWriteOverH) {
  auto be = MakeCpuBackend();
  const int64_t rows = 4, n = 96;
  const auto x = Random(rows * n, 11), h = Random(rows * n, 12), gamma = Random(n, 13);
  Tensor xt = Make(*be, x, {rows, n});
  Tensor ht = Make(*be, h, {rows, n});
  Tensor gt = Make(*be, gamma, {n});
  be->AddRmsNorm(xt, ht, gt, 1e-5f, ht);  // y aliases h
  std::vector<float> sum(x.size());
  std::vector<double> sum_d(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum_d[i] = sum[i] = x[i] + h[i];
  ExpectClose(Get(*be, xt), sum_d, 0.0, 0.0, "x += h");
  ExpectClose(Get(*be, ht), RmsNormRef(sum, gamma, 1e-5, rows, n), 1e-6, 0.0, "y");
}

// ---- Gated activation ------------------------------------------------------------------------

double SiluRef(double g) { return g / (1.0 + std::exp(-g)); }
double GeluTanhRef(double g) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * g * (1.0 + std::tanh(k * (g + 0.044715 * g * g * g)));
}

TEST(CpuGatedActivate, SiluGateKnownValues) {
  auto be = MakeCpuBackend();
  // x = [gate | up] for one row of n = 3.
  Tensor x = Make(*be, {1.0f, -2.0f, 0.0f, 2.0f, -3.0f, 5.0f}, {1, 6});
  Tensor y = Make(*be, {NAN, NAN, NAN}, {1, 3});
  be->GatedActivate(x, Activation::kSilu, y);
  // silu(1) * 2 = 2 / (1 + e^-1); silu(-2) * -3 = 6 / (1 + e^2); silu(0) * 5 = 0.
  ExpectClose(Get(*be, y), {1.4621171572600098, 0.7152175321327053, 0.0}, 1e-6, 0.0, "silu");
}

TEST(CpuGatedActivate, MatchesFormula) {
  auto be = MakeCpuBackend();
  for (int64_t n : {1, 5, 300}) {
    const int64_t rows = 4;
    const auto x = Random(rows * 2 * n, 20 + n, 3.0f);
    Tensor xt = Make(*be, x, {rows, 2 * n});
    for (Activation act : {Activation::kSilu, Activation::kGeluTanh}) {
      Tensor yt = Make(*be, std::vector<float>(rows * n, NAN), {rows, n});
      be->GatedActivate(xt, act, yt);
      std::vector<double> want(rows * n), tol(rows * n);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          const double g = x[r * 2 * n + j], u = x[r * 2 * n + n + j];
          want[r * n + j] = (act == Activation::kSilu ? SiluRef(g) : GeluTanhRef(g)) * u;
          // A few float roundings, plus for GELU the CPU's polynomial tanh (absolute error
          // ~2.4e-7 near +-1, so up to ~1.2e-7 |g| in 0.5 g (1 + tanh)).
          tol[r * n + j] = 1e-6 * std::fabs(want[r * n + j]) +
                           (act == Activation::kSilu ? 0.0 : 3e-7 * std::fabs(g * u));
        }
      }
      ExpectWithin(Get(*be, yt), want, tol,
                   std::string(act == Activation::kSilu ? "silu" : "gelu_tanh") +
                       " n=" + std::to_string(n));
    }
  }
}

// ---- Rotary ------------------------------------------------------------------------------------

struct RopeCase {
  int tokens, heads, kv_heads, head_dim, rotary_dim;
  float base;
  bool interleaved;
  std::vector<int32_t> positions;
};

// Runs the CPU backend's Rotary on q [tokens, heads, head_dim] and k [tokens, kv_heads, head_dim].
void RunRotary(Backend& be, const RopeCase& c, std::vector<float>& q, std::vector<float>& k) {
  Tensor qt = Make(be, q, {c.tokens, c.heads, c.head_dim});
  Tensor kt = Make(be, k, {c.tokens, c.kv_heads, c.head_dim});
  Tensor pos = be.Alloc({c.tokens}, DType::kI32);
  be.CopyFromHost(c.positions.data(), pos);
  RotaryParams p;
  p.q = qt.data;
  p.k = kt.data;
  p.positions = pos.as<int32_t>();
  p.num_tokens = c.tokens;
  p.num_heads = c.heads;
  p.num_kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.rotary_dim = c.rotary_dim;
  p.base = c.base;
  p.interleaved = c.interleaved;
  be.Rotary(p);
  q = Get(be, qt);
  k = Get(be, kt);
}

// transformers, written as the library writes it: inv_freq = 1 / base^(arange(0, d, 2) / d);
// neox (Llama, GPT-NeoX): emb = cat(freqs, freqs), x * cos + rotate_half(x) * sin with
// rotate_half(x) = cat(-x2, x1); GPT-J: cos/sin repeat_interleave(2) and
// rotate_every_two(x) = [-x1, x0, -x3, x2, ...]. Features past rotary_dim pass through.
std::vector<double> RopeRef(const std::vector<float>& x, int rows_heads_per_token,
                            const RopeCase& c) {
  const int d = c.rotary_dim, half = d / 2;
  std::vector<double> out(x.begin(), x.end());
  for (int t = 0; t < c.tokens; ++t) {
    std::vector<double> cos_e(d), sin_e(d);
    for (int j = 0; j < d; ++j) {
      const int i = c.interleaved ? j / 2 : j % half;  // repeat_interleave vs cat
      const double inv_freq = 1.0 / std::pow(double{c.base}, (2.0 * i) / d);
      const double angle = c.positions[t] * inv_freq;
      cos_e[j] = std::cos(angle);
      sin_e[j] = std::sin(angle);
    }
    for (int h = 0; h < rows_heads_per_token; ++h) {
      const size_t base = (static_cast<size_t>(t) * rows_heads_per_token + h) * c.head_dim;
      for (int j = 0; j < d; ++j) {
        double rotated;
        if (c.interleaved) {
          rotated = j % 2 == 0 ? -double{x[base + j + 1]} : double{x[base + j - 1]};
        } else {
          rotated = j < half ? -double{x[base + j + half]} : double{x[base + j - half]};
        }
        out[base + j] = x[base + j] * cos_e[j] + rotated * sin_e[j];
      }
    }
  }
  return out;
}

TEST(CpuRotary, PositionZeroIsIdentity) {
  auto be = MakeCpuBackend();
  for (bool interleaved : {false, true}) {
    RopeCase c{3, 4, 2, 16, 16, 10000.0f, interleaved, {0, 0, 0}};
    auto q = Random(3 * 4 * 16, 30), k = Random(3 * 2 * 16, 31);
    auto q0 = q, k0 = k;
    RunRotary(*be, c, q, k);
    EXPECT_EQ(q, q0) << "interleaved=" << interleaved;
    EXPECT_EQ(k, k0) << "interleaved=" << interleaved;
  }
}

TEST(CpuRotary, NinetyAndOneEightyDegrees) {
  // head_dim = rotary_dim = 4: inv_freq = [1, base^-1/2]. With base = 4 / pi^2 the second
  // frequency is pi/2, so position 1 turns its pair by 90 degrees and position 2 by 180; the
  // first pair turns by 1 and 2 radians.
  auto be = MakeCpuBackend();
  const double pi = std::numbers::pi;
  const float base = static_cast<float>(4.0 / (pi * pi));
  for (bool interleaved : {false, true}) {
    RopeCase c{2, 1, 1, 4, 4, base, interleaved, {1, 2}};
    std::vector<float> q = {1.0f, 2.0f, 3.0f, 4.0f, 1.0f, 2.0f, 3.0f, 4.0f};
    std::vector<float> k = {-0.5f, 0.25f, 2.0f, -1.0f, -0.5f, 0.25f, 2.0f, -1.0f};
    const auto q0 = q, k0 = k;
    RunRotary(*be, c, q, k);
    // Pair (a, b) of frequency 0 and (c, d) of frequency pi/2:
    // neox pairs (0, 2) and (1, 3); interleaved (0, 1) and (2, 3).
    const int a = 0, b = interleaved ? 1 : 2, p = interleaved ? 2 : 1, r = 3;
    for (int which = 0; which < 2; ++which) {
      const std::vector<float>& in = which == 0 ? q0 : k0;
      const std::vector<float>& got = which == 0 ? q : k;
      for (int t = 0; t < 2; ++t) {
        const double ang0 = t + 1.0;  // position * 1
        const float* x = in.data() + 4 * t;
        std::vector<double> want(4);
        want[a] = x[a] * std::cos(ang0) - x[b] * std::sin(ang0);
        want[b] = x[b] * std::cos(ang0) + x[a] * std::sin(ang0);
        if (t == 0) {  // 90 degrees: (x, y) -> (-y, x)
          want[p] = -x[r];
          want[r] = x[p];
        } else {  // 180 degrees: (x, y) -> (-x, -y)
          want[p] = -x[p];
          want[r] = -x[r];
        }
        ExpectClose(std::vector<float>(got.begin() + 4 * t, got.begin() + 4 * t + 4), want, 0.0,
                    1e-6,
                    std::string(which == 0 ? "q" : "k") + " position " + std::to_string(t + 1) +
                        (interleaved ? " interleaved" : " neox"));
      }
    }
  }
}

TEST(CpuRotary, NeoxMatchesTransformersApplyRotaryPosEmb) {
  // Printed by transformers 4.46.3: LlamaRotaryEmbedding(rope_theta=10000, head_dim=4) at
  // position_ids [[1, 3]] and apply_rotary_pos_emb(q, k, cos, sin), q/k as below laid out
  // [tokens, heads, head_dim] (transposed to transformers' [batch, heads, seq, dim] there).
  auto be = MakeCpuBackend();
  RopeCase c{2, 2, 1, 4, 4, 10000.0f, false, {1, 3}};
  std::vector<float> q = {1, 2, 3, 4, -1, 0.5, 2, -3, 0.25, -2, 1.5, 1, 3, -1, -0.5, 2};
  std::vector<float> k = {2, -1, 0.5, 1, -1.5, 1, 2, -0.25};
  RunRotary(*be, c, q, k);
  const std::vector<double> q_hf = {
      -1.9841105937957764, 1.9599006175994873, 2.4623780250549316, 4.019799709320068,
      -2.2232441902160645, 0.5299745202064514, 0.23913371562957764, -2.9948501586914062,
      -0.4591781198978424, -2.0290956497192383, -1.4497087001800537, 0.9395590424537659,
      -2.8994174003601074, -1.0595409870147705, 0.9183562397956848, 1.9691046476364136};
  const std::vector<double> k_hf = {0.6598691940307617, -1.009949803352356, 1.9530930519104004,
                                    0.9899501800537109, 1.2027486562728882, 1.0070489645004272,
                                    -2.191664934158325, -0.2198920100927353};
  // transformers rounds inv_freq and the angles to float32; the CPU keeps them in double.
  ExpectClose(q, q_hf, 0.0, 2e-6, "q vs transformers");
  ExpectClose(k, k_hf, 0.0, 2e-6, "k vs transformers");
  // The first row by hand: pairs (1, 3) at 1 rad and (2, 4) at 0.01 rad.
  ExpectClose({q[0], q[1], q[2], q[3]},
              {-1.9841106485555495, 1.959900667496664, 2.4623779024123156, 4.019799668334994},
              0.0, 1e-6, "q[0] by hand");
}

TEST(CpuRotary, MatchesTransformersFormulaUpTo32kPositions) {
  auto be = MakeCpuBackend();
  const std::vector<int32_t> positions = {0, 1, 17, 4095, 31999};
  const int tokens = static_cast<int>(positions.size());
  for (bool interleaved : {false, true}) {
    for (int rotary_dim : {16, 8}) {  // full and partial (GPT-NeoX rotary_pct = 0.5)
      for (float base : {10000.0f, 500000.0f}) {
        RopeCase c{tokens, 4, 2, 16, rotary_dim, base, interleaved, positions};
        auto q = Random(tokens * 4 * 16, 40 + rotary_dim), k = Random(tokens * 2 * 16, 41);
        const auto q_want = RopeRef(q, 4, c), k_want = RopeRef(k, 2, c);
        const auto q0 = q;
        RunRotary(*be, c, q, k);
        const std::string what = std::string(interleaved ? "interleaved" : "neox") +
                                 " rotary_dim=" + std::to_string(rotary_dim) +
                                 " base=" + std::to_string(base);
        ExpectClose(q, q_want, 1e-6, 1e-6, "q " + what);
        ExpectClose(k, k_want, 1e-6, 1e-6, "k " + what);
        // Features past rotary_dim are untouched, bit for bit.
        for (int row = 0; row < tokens * 4; ++row) {
          for (int j = rotary_dim; j < 16; ++j) {
            ASSERT_EQ(q[row * 16 + j], q0[row * 16 + j]) << what << " row " << row << " j " << j;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace infer::kernels
