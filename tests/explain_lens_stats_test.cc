// Logit lens statistics of one position against hand-computed distributions.
#include "server/explain/lens_stats.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

TEST(ExplainLensStats, HandComputedDistribution) {
  // Layer logits [0, ln 2, ln 4] -> p = [1, 2, 4] / 7; final [ln 4, ln 2, 0] -> q = [4, 2, 1] / 7.
  const std::vector<float> layer = {0.0f, std::log(2.0f), std::log(4.0f)};
  const std::vector<float> final = {std::log(4.0f), std::log(2.0f), 0.0f};
  const LensStats s = LensAtPosition(layer, final, 0, 2);
  ASSERT_EQ(s.top_ids.size(), 2u);
  EXPECT_EQ(s.top_ids[0], 2);
  EXPECT_EQ(s.top_ids[1], 1);
  EXPECT_NEAR(s.top_probs[0], 4.0 / 7, 1e-7);
  EXPECT_NEAR(s.top_probs[1], 2.0 / 7, 1e-7);
  EXPECT_EQ(s.target_id, 0);
  EXPECT_EQ(s.target_rank, 3u);
  EXPECT_NEAR(s.target_prob, 1.0 / 7, 1e-7);
  const double p[3] = {1.0 / 7, 2.0 / 7, 4.0 / 7};
  double entropy = 0.0;
  for (double x : p) entropy -= x * std::log(x);
  EXPECT_NEAR(s.entropy, entropy, 1e-6);
  // KL(q || p) = 4/7 ln 4 + 2/7 ln 1 + 1/7 ln(1/4) = 3/7 ln 4.
  EXPECT_NEAR(s.kl_to_final, 3.0 / 7 * std::log(4.0), 1e-6);
}

TEST(ExplainLensStats, TiesGoToTheLowerIdInTopAndRank) {
  const std::vector<float> logits = {1, 1, 1, 0};
  const LensStats s = LensAtPosition(logits, logits, 2, 4);
  ASSERT_EQ(s.top_ids.size(), 4u);
  EXPECT_EQ(s.top_ids[0], 0);
  EXPECT_EQ(s.top_ids[1], 1);
  EXPECT_EQ(s.top_ids[2], 2);
  EXPECT_EQ(s.top_ids[3], 3);
  EXPECT_EQ(s.target_rank, 3u);  // two equally likely ids come before it
  EXPECT_EQ(LensAtPosition(logits, logits, 0, 1).target_rank, 1u);
  EXPECT_EQ(LensAtPosition(logits, logits, 3, 1).target_rank, 4u);
  EXPECT_EQ(s.kl_to_final, 0.0f);  // same distribution
}

TEST(ExplainLensStats, UniformHasEntropyLogV) {
  const std::vector<float> logits(1000, 3.5f);
  const LensStats s = LensAtPosition(logits, logits, 999, 3);
  EXPECT_NEAR(s.entropy, std::log(1000.0), 1e-5);
  EXPECT_NEAR(s.target_prob, 1e-3, 1e-9);
  EXPECT_EQ(s.target_rank, 1000u);
  EXPECT_EQ(s.top_ids, (std::vector<int32_t>{0, 1, 2}));
}

TEST(ExplainLensStats, LargeLogitsAreStable) {
  // exp(1000) overflows a double; the max-subtracted softmax does not.
  const std::vector<float> layer = {1000.0f, 0.0f, -1000.0f};
  const std::vector<float> final = {0.0f, 1000.0f, 0.0f};
  const LensStats s = LensAtPosition(layer, final, 1, 3);
  EXPECT_FLOAT_EQ(s.top_probs[0], 1.0f);
  EXPECT_EQ(s.target_rank, 2u);
  EXPECT_TRUE(std::isfinite(s.entropy));
  EXPECT_GE(s.entropy, 0.0f);
  // The final layer puts its mass on id 1, where the layer has log p = -1000: KL = 1000 nats.
  EXPECT_NEAR(s.kl_to_final, 1000.0, 1e-2);
}

TEST(ExplainLensStats, ZeroFinalProbabilityTermsCountZero) {
  const float inf = std::numeric_limits<float>::infinity();
  // The final distribution excludes id 2 entirely (a masked logit): its term is 0, not NaN.
  const std::vector<float> layer = {0.0f, 0.0f, 5.0f};
  const std::vector<float> final = {0.0f, 0.0f, -inf};
  const LensStats s = LensAtPosition(layer, final, -1, 1);
  // q = [1/2, 1/2, 0], p = [1, 1, e^5] / (2 + e^5).
  const double log_p0 = -std::log(2.0 + std::exp(5.0));
  EXPECT_NEAR(s.kl_to_final, -std::log(2.0) - log_p0, 1e-5);
  EXPECT_EQ(s.target_id, -1);
  EXPECT_EQ(s.target_rank, 0u);
  EXPECT_EQ(s.target_prob, 0.0f);
}

TEST(ExplainLensStats, TopKIsClampedAndTargetOutOfRangeIsNone) {
  const std::vector<float> logits = {0.5f, 2.0f};
  const LensStats s = LensAtPosition(logits, logits, 7, 10);
  EXPECT_EQ(s.top_ids, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(s.target_id, -1);
  EXPECT_EQ(s.target_rank, 0u);
  EXPECT_TRUE(LensAtPosition(logits, logits, -1, 0).top_ids.empty());
}

}  // namespace
}  // namespace infer::explain
