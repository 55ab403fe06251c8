// Occlusion and LIME on a model built so that one token decides the prediction
// (tests/crafted_gpt2.h): both must rank that token first, be reproducible under a seed, and run
// their perturbed copies through the engine with the KV prefix before each perturbation reused.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "crafted_gpt2.h"
#include "golden_util.h"
#include "kernels/backend.h"
#include "server/explain/attributions.h"
#include "server/explain/features.h"
#include "server/tasks/task_model.h"

namespace infer::testing {
namespace {

class ExplainAttribution : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("crafted-gpt2-" + std::to_string(::getpid())))
               .string();
    WriteCraftedGpt2(dir_, GoldenPath("models/gpt2"), crafted_);
    auto m = tasks::TaskModel::Load(dir_, backend_.get());
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Input tokens (the deciding one at `at`), each token its own feature, the target predicted
  // after the last input token.
  explain::AttributionInput Input(int at, int n = 40) {
    explain::AttributionInput in;
    for (int i = 0; i < n; ++i) in.ids.push_back(300 + (i * 37) % 1500);
    in.ids[at] = crafted_.deciding;
    std::vector<std::pair<size_t, size_t>> spans(n, {0, 0});
    std::vector<uint8_t> special(n, 0);
    std::vector<int32_t> segments(n, -1);
    in.features = explain::GroupFeatures(spans, special, segments, "", "", n,
                                         explain::Granularity::kToken);
    in.target.first_position = n - 1;
    in.target.ids = {crafted_.target};
    in.baseline_id = 1999;
    return in;
  }

  static int Best(const explain::AttributionResult& r) {
    return static_cast<int>(std::max_element(r.feature_values.begin(), r.feature_values.end()) -
                            r.feature_values.begin());
  }

  CraftedGpt2 crafted_;
  std::string dir_;
  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend();
  std::unique_ptr<tasks::TaskModel> model_;
};

TEST_F(ExplainAttribution, OcclusionRanksTheDecidingTokenFirst) {
  for (int at : {0, 17, 38}) {
    SCOPED_TRACE(at);
    explain::AttributionInput in = Input(at);
    auto r = explain::RunOcclusion(*model_, in);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(Best(*r), at);
    EXPECT_EQ(r->evaluations, in.features.count + 2);
    // The deciding token carries the score: without it (and without everything) it drops a lot.
    EXPECT_GT(r->feature_values[at], 2.0);
    EXPECT_LT(r->baseline_score, r->base_score - 2.0);
    for (int f = 0; f < in.features.count; ++f) {
      if (f != at) EXPECT_LT(std::abs(r->feature_values[f]), r->feature_values[at] / 4);
    }
    // Captum's layout: one value per token, one row per target.
    ASSERT_EQ(r->sequence.size(), in.ids.size());
    ASSERT_EQ(r->per_target.size(), in.ids.size());
    EXPECT_FLOAT_EQ(r->sequence[at], static_cast<float>(r->feature_values[at]));
  }
}

TEST_F(ExplainAttribution, OcclusionReusesThePrefixBeforeEachPerturbation) {
  runtime::LmEngine* lm = model_->lm();
  ASSERT_NE(lm, nullptr);
  ASSERT_TRUE(lm->prefix_caching());
  const int64_t hits_before = lm->prefix_stats().hits;
  auto r = explain::RunOcclusion(*model_, Input(5, 64));
  ASSERT_TRUE(r.ok()) << r.status();
  // 64 copies of a 64-token input: a perturbation at p finds the blocks of [0, p) cached.
  EXPECT_GT(lm->prefix_stats().hits - hits_before, 64);
  EXPECT_EQ(lm->live_sequences(), 0);
  EXPECT_EQ(lm->used_blocks(), 0);
}

TEST_F(ExplainAttribution, LimeRanksTheDecidingTokenFirstAndIsSeeded) {
  explain::AttributionInput in = Input(11, 24);
  explain::LimeOptions opt;
  opt.samples = 96;
  opt.seed = 7;
  auto a = explain::RunLime(*model_, in, opt);
  auto b = explain::RunLime(*model_, in, opt);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(Best(*a), 11);
  EXPECT_EQ(a->feature_values, b->feature_values);
  EXPECT_EQ(a->evaluations, 97);
  EXPECT_GT(a->fit_r2, 0.5);
  opt.seed = 8;
  auto c = explain::RunLime(*model_, in, opt);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Best(*c), 11);
  EXPECT_NE(a->feature_values, c->feature_values);
}

TEST_F(ExplainAttribution, ContinuationTargetsScoreEachToken) {
  // Two targets: the crafted target then a second token; per-target rows sum to the total.
  explain::AttributionInput in = Input(3, 12);
  in.ids.push_back(crafted_.target);
  in.ids.push_back(555);
  in.features.feature_of_token.resize(in.ids.size(), -1);
  in.target.first_position = 11;
  in.target.ids = {crafted_.target, 555};
  auto r = explain::RunOcclusion(*model_, in);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->per_target.size(), 2 * in.ids.size());
  for (size_t t = 0; t < in.ids.size(); ++t) {
    EXPECT_NEAR(r->per_target[t] + r->per_target[in.ids.size() + t], r->sequence[t], 1e-4);
  }
  EXPECT_EQ(r->sequence[12], 0.0f);  // targets are not perturbed
}

}  // namespace
}  // namespace infer::testing
