// Norm-weighted attention: hand cases and a naive double-precision triple loop.
#include "server/explain/norm_weighted.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

TEST(ExplainNormWeighted, OneHeadScalesByTheValueNorm) {
  // d = 1, hidden = 2, W_O = [3, 4]: f(x_j) = v_j [3, 4], ||f(x_j)|| = 5 |v_j|.
  const std::vector<float> probs = {1, 0, 0.25f, 0.75f};
  const std::vector<float> values = {2, -1};
  const std::vector<float> w = {3, 4};
  const NormWeightedMaps m = NormWeightedAttention(probs, values, w, 1, 1, 1, 2, 2);
  const std::vector<float> want = {10, 0, 2.5f, 3.75f};
  ASSERT_EQ(m.per_head.size(), 4u);
  ASSERT_EQ(m.summed.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(m.per_head[i], want[i]) << i;
    EXPECT_FLOAT_EQ(m.summed[i], want[i]) << i;  // one head: the sum is that head
  }
}

TEST(ExplainNormWeighted, OpposingHeadsCancelInTheSum) {
  // Two heads reading the same value (kv_heads 1, GQA) and writing opposite directions: each
  // head alone has a norm, their weighted sum is zero where the weights are equal.
  const std::vector<float> probs = {1, 0, 0.5f, 0.5f, /**/ 1, 0, 0.5f, 0.5f};
  const std::vector<float> values = {1, 2};  // [T=2, kv*d = 1]
  const std::vector<float> w = {1, 0, /**/ -1, 0};  // [heads*d = 2, hidden = 2]
  const NormWeightedMaps m = NormWeightedAttention(probs, values, w, 2, 1, 1, 2, 2);
  EXPECT_FLOAT_EQ(m.per_head[2], 0.5f);      // head 0, row 1, key 0: 0.5 * |1|
  EXPECT_FLOAT_EQ(m.per_head[3], 1.0f);      // head 0, row 1, key 1: 0.5 * |2|
  EXPECT_FLOAT_EQ(m.per_head[4 + 3], 1.0f);  // head 1 likewise
  for (float s : m.summed) EXPECT_EQ(s, 0.0f);
}

struct Shape {
  int heads, kv_heads, head_dim, hidden, tokens;
};

class NormWeightedNaive : public ::testing::TestWithParam<Shape> {};

TEST_P(NormWeightedNaive, MatchesTripleLoopInDouble) {
  const Shape sh = GetParam();
  const int hd = sh.heads, kv = sh.kv_heads, d = sh.head_dim, c = sh.hidden, t = sh.tokens;
  uint64_t s = 7 + hd * 131 + t;
  auto uniform = [&s] {  // [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(s >> 11) / 4503599627370496.0 - 1.0;
  };
  std::vector<float> probs(static_cast<size_t>(hd) * t * t), values(static_cast<size_t>(t) * kv * d),
      w(static_cast<size_t>(hd) * d * c);
  for (int h = 0; h < hd; ++h)
    for (int i = 0; i < t; ++i) {
      double sum = 0.0;
      for (int j = 0; j < t; ++j) sum += probs[(h * t + i) * t + j] = static_cast<float>(std::exp(2 * uniform()));
      for (int j = 0; j < t; ++j) probs[(h * t + i) * t + j] /= static_cast<float>(sum);
    }
  for (float& v : values) v = static_cast<float>(uniform());
  for (float& v : w) v = static_cast<float>(uniform());

  const NormWeightedMaps got = NormWeightedAttention(probs, values, w, hd, kv, d, c, t);
  ASSERT_EQ(got.per_head.size(), probs.size());
  ASSERT_EQ(got.summed.size(), static_cast<size_t>(t) * t);
  const int group = hd / kv;
  // f[h][j][:] in double, straight from the definition.
  std::vector<double> f(static_cast<size_t>(hd) * t * c, 0.0);
  for (int h = 0; h < hd; ++h)
    for (int j = 0; j < t; ++j)
      for (int o = 0; o < c; ++o) {
        double acc = 0.0;
        for (int e = 0; e < d; ++e)
          acc += static_cast<double>(values[j * kv * d + (h / group) * d + e]) * w[(h * d + e) * c + o];
        f[(static_cast<size_t>(h) * t + j) * c + o] = acc;
      }
  double max_rel = 0.0;
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j) {
      std::vector<double> sum(c, 0.0);
      for (int h = 0; h < hd; ++h) {
        const double a = probs[(h * t + i) * t + j];
        double n2 = 0.0;
        for (int o = 0; o < c; ++o) {
          const double x = f[(static_cast<size_t>(h) * t + j) * c + o];
          n2 += x * x;
          sum[o] += a * x;
        }
        const double want = a * std::sqrt(n2);
        const double g = got.per_head[(h * t + i) * t + j];
        max_rel = std::max(max_rel, std::fabs(g - want) / std::max(want, 1e-30));
      }
      double n2 = 0.0;
      for (double x : sum) n2 += x * x;
      const double want = std::sqrt(n2);
      max_rel = std::max(max_rel, std::fabs(got.summed[i * t + j] - want) / std::max(want, 1e-30));
    }
  // Float inputs, float value-times-projection products: a few float ulps.
  EXPECT_LT(max_rel, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, NormWeightedNaive,
                         ::testing::Values(Shape{1, 1, 4, 8, 3}, Shape{4, 4, 3, 10, 6},
                                           Shape{4, 2, 3, 10, 6},  // grouped-query
                                           Shape{6, 1, 2, 5, 9},   // multi-query
                                           Shape{12, 12, 8, 96, 17}));

TEST(ExplainNormWeighted, ZeroTokens) {
  const NormWeightedMaps m = NormWeightedAttention({}, {}, std::vector<float>(2 * 3 * 4, 1.0f), 2, 2, 3, 4, 0);
  EXPECT_TRUE(m.per_head.empty());
  EXPECT_TRUE(m.summed.empty());
}

}  // namespace
}  // namespace infer::explain
