// Attention rollout: hand-computed small cases and the properties every rollout has.
#include "server/explain/rollout.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

TEST(ExplainRollout, OneLayerOneHead) {
  // A = [[1, 0], [0.5, 0.5]] -> 0.5 A + 0.5 I = [[1, 0], [0.25, 0.75]], rows already sum to 1.
  RolloutAccumulator r(2);
  EXPECT_TRUE(r.current().empty());
  r.AddLayer(std::vector<float>{1, 0, 0.5f, 0.5f}, 1);
  const std::vector<float> want = {1, 0, 0.25f, 0.75f};
  ASSERT_EQ(r.current().size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(r.current()[i], want[i]) << i;
  EXPECT_EQ(r.layers(), 1);
}

TEST(ExplainRollout, HeadsAreAveragedAndLayersMultiplied) {
  // Layer 0, heads [[1,0],[1,0]] and [[1,0],[0,1]]: mean [[1,0],[0.5,0.5]]
  //   -> Ahat_0 = [[1,0],[0.25,0.75]].
  // Layer 1, one head [[1,0],[1,0]] -> Ahat_1 = [[1,0],[0.5,0.5]];
  //   R_1 = Ahat_1 R_0 = [[1,0],[0.5 + 0.125, 0.375]].
  RolloutAccumulator r(2);
  r.AddLayer(std::vector<float>{1, 0, 1, 0, /**/ 1, 0, 0, 1}, 2);
  r.AddLayer(std::vector<float>{1, 0, 1, 0}, 1);
  const std::vector<float> want = {1, 0, 0.625f, 0.375f};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(r.current()[i], want[i]) << i;
  EXPECT_EQ(r.layers(), 2);
}

TEST(ExplainRollout, RowsThatDoNotSumToOneAreRenormalised) {
  // Row 0 sums to 2 (not a distribution), row 1 is a padding row of zeros.
  RolloutAccumulator r(2);
  r.AddLayer(std::vector<float>{0.5f, 1.5f, 0, 0}, 1);
  // Row 0: 0.5*[0.5, 1.5] + [0.5, 0] = [0.75, 0.75] -> [0.5, 0.5]. Row 1: [0, 0.5] -> [0, 1].
  const std::vector<float> want = {0.5f, 0.5f, 0, 1};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(r.current()[i], want[i]) << i;
}

// Random causal softmax layers: the rollout stays row-stochastic and lower triangular and equals
// the product computed naively in double.
TEST(ExplainRollout, CausalRandomLayersMatchNaiveProduct) {
  const int t = 7, heads = 3, layers = 5;
  uint64_t s = 99;
  auto uniform = [&s] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(s >> 11) / 9007199254740992.0;
  };
  RolloutAccumulator r(t);
  std::vector<double> naive;
  for (int l = 0; l < layers; ++l) {
    std::vector<float> probs(static_cast<size_t>(heads) * t * t, 0.0f);
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < t; ++i) {
        double sum = 0.0;
        std::vector<double> e(i + 1);
        for (int j = 0; j <= i; ++j) sum += e[j] = std::exp(4.0 * uniform());
        for (int j = 0; j <= i; ++j) probs[(h * t + i) * t + j] = static_cast<float>(e[j] / sum);
      }
    }
    r.AddLayer(probs, heads);
    std::vector<double> ahat(t * t, 0.0);
    for (int i = 0; i < t; ++i) {
      double sum = 0.0;
      for (int j = 0; j < t; ++j) {
        double m = 0.0;
        for (int h = 0; h < heads; ++h) m += probs[(h * t + i) * t + j];
        ahat[i * t + j] = 0.5 * m / heads + (i == j ? 0.5 : 0.0);
        sum += ahat[i * t + j];
      }
      for (int j = 0; j < t; ++j) ahat[i * t + j] /= sum;
    }
    if (l == 0) {
      naive = ahat;
    } else {
      std::vector<double> next(t * t, 0.0);
      for (int i = 0; i < t; ++i)
        for (int k = 0; k < t; ++k)
          for (int j = 0; j < t; ++j) next[i * t + j] += ahat[i * t + k] * naive[k * t + j];
      naive = next;
    }
    const std::vector<float>& got = r.current();
    for (int i = 0; i < t; ++i) {
      double row = 0.0;
      for (int j = 0; j < t; ++j) {
        row += got[i * t + j];
        EXPECT_NEAR(got[i * t + j], naive[i * t + j], 1e-6) << l << " " << i << " " << j;
        if (j > i) {
          EXPECT_EQ(got[i * t + j], 0.0f);
        }
      }
      EXPECT_NEAR(row, 1.0, 1e-6) << "layer " << l << " row " << i;
    }
    // The first token attends only to itself, through every layer.
    EXPECT_FLOAT_EQ(got[0], 1.0f);
  }
}

}  // namespace
}  // namespace infer::explain
