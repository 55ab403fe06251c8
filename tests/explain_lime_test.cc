// LIME: the masks (deterministic, seeded) and the weighted ridge fit.
#include "server/explain/lime.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

TEST(ExplainLime, SplitMix64KnownAnswers) {
  // The published splitmix64 sequence from state 0.
  uint64_t state = 0;
  EXPECT_EQ(SplitMix64(&state), 0xe220a8397b1dcdafull);
  EXPECT_EQ(SplitMix64(&state), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(SplitMix64(&state), 0x06c45d188009454full);
}

TEST(ExplainLime, Xoshiro256StarStarKnownAnswers) {
  // xoshiro256** (prng.di.unimi.it reference) with its state filled by splitmix64 from 0.
  Xoshiro256 rng(0);
  EXPECT_EQ(rng.Next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(rng.Next(), 0xbf6e1f784956452aull);
  EXPECT_EQ(rng.Next(), 0x1a5f849d4933e6e0ull);
  EXPECT_EQ(rng.Next(), 0x6aa594f1262d2d2cull);
}

TEST(ExplainLime, MasksAreReproducibleAndPinned) {
  const auto a = LimeMasks(10, 5, 42), b = LimeMasks(10, 5, 42), c = LimeMasks(10, 5, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Pinned: a change here changes every LIME answer a client has seen for this seed.
  const std::vector<std::vector<uint8_t>> want = {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                                                  {0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                                  {1, 0, 1, 0, 1, 1, 1, 1, 1, 1},
                                                  {0, 0, 0, 1, 0, 0, 0, 1, 1, 0},
                                                  {0, 1, 1, 1, 1, 1, 1, 0, 0, 1}};
  EXPECT_EQ(a, want);
}

TEST(ExplainLime, FirstSampleKeepsEverythingOthersHalf) {
  const int features = 20, samples = 2001;
  const auto m = LimeMasks(features, samples, 7);
  ASSERT_EQ(m.size(), static_cast<size_t>(samples));
  EXPECT_EQ(m[0], std::vector<uint8_t>(features, 1));
  double kept = 0;
  for (int s = 1; s < samples; ++s) {
    ASSERT_EQ(m[s].size(), static_cast<size_t>(features));
    for (uint8_t bit : m[s]) {
      ASSERT_LE(bit, 1);
      kept += bit;
    }
  }
  // 40000 fair coins: standard deviation 0.0025 of the mean; 8 of them is far out.
  EXPECT_NEAR(kept / ((samples - 1) * features), 0.5, 0.02);
  EXPECT_TRUE(LimeMasks(3, 0, 1).empty());
  EXPECT_EQ(LimeMasks(0, 2, 1), (std::vector<std::vector<uint8_t>>{{}, {}}));
}

std::vector<double> LinearScores(const std::vector<std::vector<uint8_t>>& masks,
                                 const std::vector<double>& coef, double intercept) {
  std::vector<double> y;
  for (const auto& m : masks) {
    double s = intercept;
    for (size_t f = 0; f < coef.size(); ++f) s += coef[f] * m[f];
    y.push_back(s);
  }
  return y;
}

TEST(ExplainLime, RecoversALinearScore) {
  const std::vector<double> coef = {2.0, -1.0, 0.5, 0.0, 3.0};
  const auto masks = LimeMasks(5, 64, 3);
  const auto fit = FitLime(masks, LinearScores(masks, coef, 1.5), 0.25, 1e-9);
  ASSERT_TRUE(fit.ok()) << fit.status();
  for (size_t f = 0; f < coef.size(); ++f) EXPECT_NEAR(fit->coef[f], coef[f], 1e-6) << f;
  EXPECT_NEAR(fit->intercept, 1.5, 1e-6);
  EXPECT_NEAR(fit->r2, 1.0, 1e-9);
}

// One feature, two samples: all kept (weight 1) and none kept (distance 1, weight e^-1 at
// width 1). Weighted variance of x: w1 w0 / (w1 + w0); the ridge shrinks the exact slope 2 by
// a / (a + alpha).
TEST(ExplainLime, HandComputedRidgeShrinkage) {
  const std::vector<std::vector<uint8_t>> masks = {{1}, {0}};
  const std::vector<double> y = {3.0, 1.0};
  const double w0 = std::exp(-1.0), a = w0 / (1.0 + w0), alpha = 0.5;
  const auto fit = FitLime(masks, y, 1.0, alpha);
  ASSERT_TRUE(fit.ok());
  const double slope = 2.0 * a / (a + alpha);
  EXPECT_NEAR(fit->coef[0], slope, 1e-12);
  const double xbar = 1.0 / (1.0 + w0), ybar = (3.0 + w0) / (1.0 + w0);
  EXPECT_NEAR(fit->intercept, ybar - slope * xbar, 1e-12);
  const auto exact = FitLime(masks, y, 1.0, 0.0);
  ASSERT_TRUE(exact.ok());
  EXPECT_NEAR(exact->coef[0], 2.0, 1e-12);
  EXPECT_NEAR(exact->intercept, 1.0, 1e-12);
  EXPECT_NEAR(exact->r2, 1.0, 1e-12);
}

TEST(ExplainLime, DominantFeatureRanksFirst) {
  const int features = 8;
  const auto masks = LimeMasks(features, 64, 11);
  std::vector<double> y;
  Xoshiro256 noise(5);
  for (const auto& m : masks) {
    double s = 5.0 * m[3];
    for (int f = 0; f < features; ++f) s += 0.2 * m[f];
    s += (static_cast<double>(noise.Next() >> 11) / 9007199254740992.0 - 0.5) * 0.5;
    y.push_back(s);
  }
  const auto fit = FitLime(masks, y, 0.25, 1.0);
  ASSERT_TRUE(fit.ok());
  int best = 0;
  for (int f = 1; f < features; ++f)
    if (std::fabs(fit->coef[f]) > std::fabs(fit->coef[best])) best = f;
  EXPECT_EQ(best, 3);
  EXPECT_GT(fit->r2, 0.5);
  EXPECT_LE(fit->r2, 1.0);
}

// Two identical columns with no ridge: singular, answered with a tiny ridge that splits the
// effect between them instead of failing.
TEST(ExplainLime, SingularSystemIsRegularised) {
  std::vector<std::vector<uint8_t>> masks = LimeMasks(2, 32, 9);
  for (auto& m : masks) m[1] = m[0];
  std::vector<double> y;
  for (const auto& m : masks) y.push_back(4.0 * m[0]);
  const auto fit = FitLime(masks, y, 0.5, 0.0);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->coef[0] + fit->coef[1], 4.0, 1e-5);
  EXPECT_NEAR(fit->coef[0], fit->coef[1], 1e-5);
}

TEST(ExplainLime, ConstantScoresFitExactly) {
  const auto masks = LimeMasks(3, 10, 1);
  const std::vector<double> y(10, -2.0);
  const auto fit = FitLime(masks, y, 0.25, 1.0);
  ASSERT_TRUE(fit.ok());
  for (double c : fit->coef) EXPECT_NEAR(c, 0.0, 1e-12);
  EXPECT_NEAR(fit->intercept, -2.0, 1e-12);
  EXPECT_EQ(fit->r2, 1.0);
}

TEST(ExplainLime, RejectsBadArguments) {
  const auto masks = LimeMasks(3, 4, 1);
  const std::vector<double> y = {1, 2, 3, 4};
  EXPECT_EQ(FitLime({}, {}, 0.25, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitLime(masks, std::span<const double>(y).first(3), 0.25, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitLime(masks, y, 0.0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitLime(masks, y, 0.25, -1).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<double> nan = y;
  nan[2] = NAN;
  EXPECT_EQ(FitLime(masks, nan, 0.25, 1).status().code(), absl::StatusCode::kInvalidArgument);
  auto ragged = masks;
  ragged[2].pop_back();
  EXPECT_EQ(FitLime(ragged, y, 0.25, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infer::explain
