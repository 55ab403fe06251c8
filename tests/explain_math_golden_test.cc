// The explanation maths on the inputs transformers recorded (tests/golden/make_explain_golden.py):
// rollout and norm-weighted maps from the recorded attention, values and output projection,
// logit-lens statistics from the recorded lens logits, PCA of the recorded pooled states. The
// reference computed these in float64 from the same float32 inputs, so agreement is to float32
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "golden_util.h"
#include "server/explain/lens_stats.h"
#include "server/explain/norm_weighted.h"
#include "server/explain/pca.h"
#include "server/explain/rollout.h"

namespace infer::explain {
namespace {

using testing::GoldenTensors;
using testing::ReadGoldenJson;
using testing::RelativeError;

constexpr double kTol = 1e-5;  // float32 inputs, float64 maths on both sides, float32 outputs

class ExplainMathGolden : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    json_ = new nlohmann::json(ReadGoldenJson("expected/explain.json"));
    tensors_ = new GoldenTensors("expected/explain.safetensors");
  }
  static void TearDownTestSuite() {
    delete json_;
    delete tensors_;
  }
  const nlohmann::json& Model() const { return (*json_)["models"][GetParam()]; }
  std::vector<float> Get(const std::string& name) const {
    return tensors_->Get(GetParam() + "." + name);
  }

  static nlohmann::json* json_;
  static GoldenTensors* tensors_;
};
nlohmann::json* ExplainMathGolden::json_ = nullptr;
GoldenTensors* ExplainMathGolden::tensors_ = nullptr;

TEST_P(ExplainMathGolden, RolloutAndNormWeighted) {
  const nlohmann::json& m = Model();
  const int layers = m["num_layers"], heads = m["num_heads"], d = m["head_dim"],
            hidden = m["hidden_size"];
  for (const auto& c : m["cases"]) {
    const std::string name = c["name"];
    const int t = c["seq_len"];
    RolloutAccumulator rollout(t);
    for (int l = 0; l < layers; ++l) {
      const std::string at = name + " layer " + std::to_string(l);
      const std::vector<float> probs = Get(name + ".attention." + std::to_string(l));
      ASSERT_EQ(probs.size(), static_cast<size_t>(heads) * t * t) << at;
      rollout.AddLayer(probs, heads);
      EXPECT_LT(RelativeError(rollout.current(), Get(name + ".rollout." + std::to_string(l))), kTol)
          << at;

      // The recording is [heads, T, d]; the function takes the projection's [T, heads * d].
      const std::vector<float> v = Get(name + ".value." + std::to_string(l));
      std::vector<float> values(v.size());
      for (int h = 0; h < heads; ++h)
        for (int j = 0; j < t; ++j)
          for (int e = 0; e < d; ++e) values[(j * heads + h) * d + e] = v[(h * t + j) * d + e];
      const NormWeightedMaps nw = NormWeightedAttention(
          probs, values, Get("out_proj." + std::to_string(l)), heads, heads, d, hidden, t);
      EXPECT_LT(RelativeError(nw.per_head, Get(name + ".norm_weighted." + std::to_string(l))), kTol)
          << at;
      EXPECT_LT(RelativeError(nw.summed, Get(name + ".norm_weighted_sum." + std::to_string(l))),
                kTol)
          << at;
    }
  }
}

TEST_P(ExplainMathGolden, LogitLens) {
  const nlohmann::json& m = Model();
  if (!m["cases"][0].contains("logit_lens")) {
    // Only encoders (no LM head) come without lens data.
    EXPECT_FALSE(m["causal"].get<bool>()) << GetParam();
    return;
  }
  const int vocab = m["vocab_size"], layers = m["num_layers"];
  int checked = 0;
  for (const auto& c : m["cases"]) {
    const std::string name = c["name"];
    const std::vector<float> final = Get(name + ".lens_logits." + std::to_string(layers));
    for (const auto& lens : c["logit_lens"]) {
      const int layer = lens["layer"];
      const std::vector<float> logits = Get(name + ".lens_logits." + std::to_string(layer));
      for (const auto& want : lens["positions"]) {
        const int t = want["position"];
        const std::string at = name + " layer " + std::to_string(layer) + " position " +
                               std::to_string(t);
        const std::span<const float> row(logits.data() + static_cast<size_t>(t) * vocab, vocab);
        const std::span<const float> fin(final.data() + static_cast<size_t>(t) * vocab, vocab);
        const std::vector<int32_t> top_ids = want["top_ids"].get<std::vector<int32_t>>();
        const LensStats s = LensAtPosition(row, fin, want["target_id"],
                                           static_cast<int>(top_ids.size()));
        EXPECT_EQ(s.top_ids, top_ids) << at;
        for (size_t i = 0; i < top_ids.size() && i < s.top_probs.size(); ++i) {
          const double p = want["top_probs"][i];
          EXPECT_NEAR(s.top_probs[i], p, 1e-6 * std::max(p, 1e-3)) << at << " top " << i;
        }
        EXPECT_EQ(s.target_rank, want["target_rank"].get<uint32_t>()) << at;
        const double tp = want["target_probability"];
        EXPECT_NEAR(s.target_prob, tp, 1e-6 * tp + 1e-12) << at;
        EXPECT_NEAR(s.entropy, want["entropy"].get<double>(), 1e-5) << at;
        EXPECT_NEAR(s.kl_to_final, want["kl_to_final"].get<double>(), 1e-5) << at;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
}

TEST_P(ExplainMathGolden, Projection) {
  const nlohmann::json& p = Model()["projection"];
  const int hidden = Model()["hidden_size"];
  const int n = static_cast<int>(p["texts"].size());
  ASSERT_GE(p["results"].size(), 1u);
  for (const auto& r : p["results"]) {
    const int layer = r["layer"], k = r["dims"];
    const std::string at = "layer " + std::to_string(layer) + " dims " + std::to_string(k);
    const std::vector<float> pooled = Get("projection." + std::to_string(layer) + ".pooled");
    auto proj = PcaProject(pooled, n, hidden, k);
    ASSERT_TRUE(proj.ok()) << proj.status();
    std::vector<float> want_coords, want_ratio;
    for (const auto& row : r["coordinates"])
      for (double x : row) want_coords.push_back(static_cast<float>(x));
    for (double x : r["explained_variance_ratio"]) want_ratio.push_back(static_cast<float>(x));
    // A flipped axis would give a relative error near 2 on its column: the sign convention is
    // checked here too.
    EXPECT_LT(RelativeError(proj->coords, want_coords), kTol) << at;
    EXPECT_LT(RelativeError(proj->explained_variance_ratio, want_ratio), kTol) << at;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ExplainMathGolden, ::testing::Values("gpt2", "bert"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace infer::explain
