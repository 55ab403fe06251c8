// Zero-shot scoring: continuation log-probabilities through forks equal the ones computed from
// the golden one-shot logits; NLI and embedding rules follow transformers' pipeline semantics.
#include <cmath>

#include <gtest/gtest.h>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/runtime/lm_engine.h"
#include "server/tasks/zero_shot.h"

namespace infer {
namespace {

double GoldenLogProb(const std::vector<float>& logits, int vocab, int row, int token) {
  const float* r = logits.data() + static_cast<int64_t>(row) * vocab;
  double mx = *std::max_element(r, r + vocab), sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(r[i] - mx);
  return r[token] - mx - std::log(sum);
}

TEST(ZeroShot, ContinuationScoresMatchGoldenLogits) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/gpt2"), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  runtime::LmEngineOptions o;
  o.block_size = 4;
  o.num_blocks = 64;
  runtime::LmEngine lm(std::move(m->decoder), backend.get(), o);
  nlohmann::json meta = testing::ReadGoldenJson("expected/gpt2.json");
  testing::GoldenTensors want("expected/gpt2.safetensors");
  const auto& c = meta["cases"][1];
  std::vector<int32_t> ids = c["input_ids"].get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 8u);
  std::vector<float> logits = want.Get(c["name"].get<std::string>() + ".logits");
  const int vocab = lm.vocab_size();
  const size_t k = 5;
  std::vector<int32_t> prompt(ids.begin(), ids.begin() + k);
  // Continuations: the true next 3 tokens, the true next 1, and a different single token.
  std::vector<std::vector<int32_t>> conts = {
      {ids[k], ids[k + 1], ids[k + 2]}, {ids[k]}, {(ids[k] + 1) % vocab}};
  auto scores = tasks::ScoreContinuations(lm, prompt, conts);
  ASSERT_TRUE(scores.ok()) << scores.status();
  double three = 0;
  for (int i = 0; i < 3; ++i) three += GoldenLogProb(logits, vocab, k - 1 + i, ids[k + i]);
  EXPECT_NEAR((*scores)[0], three, 1e-4);
  EXPECT_NEAR((*scores)[1], GoldenLogProb(logits, vocab, k - 1, ids[k]), 1e-4);
  EXPECT_NEAR((*scores)[2], GoldenLogProb(logits, vocab, k - 1, (ids[k] + 1) % vocab), 1e-4);
  EXPECT_EQ(lm.live_sequences(), 0);
  EXPECT_EQ(lm.cache().allocator().num_free(), 64);

  auto zs = tasks::LmZeroShot(lm, prompt, conts, /*length_normalize=*/false);
  ASSERT_TRUE(zs.ok());
  double total = 0;
  for (double p : zs->probs) total += p;
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_NEAR(std::log(zs->probs[1] / zs->probs[2]), (*scores)[1] - (*scores)[2], 1e-6);
  EXPECT_EQ(tasks::LmZeroShot(lm, prompt, {conts.data(), 1}, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::vector<int32_t>> empty_label = {{ids[k]}, {}};
  EXPECT_EQ(tasks::ScoreContinuations(lm, prompt, empty_label).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ZeroShot, NliSingleAndMultiLabelRules) {
  std::map<int64_t, std::string> id2label = {{0, "contradiction"}, {1, "neutral"}, {2, "ENTAILMENT"}};
  auto ids = tasks::FindNliLabelIds(id2label);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->entailment, 2);
  EXPECT_EQ(ids->contradiction, 0);
  std::vector<std::vector<float>> logits = {{0.5f, 0.0f, 2.0f}, {1.0f, 0.3f, -1.0f}};
  auto single = tasks::NliZeroShotFromLogits(logits, *ids, false);
  EXPECT_NEAR(single.probs[0], 1.0 / (1.0 + std::exp(-3.0)), 1e-9);
  auto multi = tasks::NliZeroShotFromLogits(logits, *ids, true);
  EXPECT_NEAR(multi.probs[0], 1.0 / (1.0 + std::exp(0.5 - 2.0)), 1e-9);
  EXPECT_NEAR(multi.probs[1], 1.0 / (1.0 + std::exp(1.0 + 1.0)), 1e-9);
  std::map<int64_t, std::string> not_nli = {{0, "NEG"}, {1, "POS"}};
  EXPECT_EQ(tasks::FindNliLabelIds(not_nli).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ZeroShot, EmbeddingRuleRanksByCosine) {
  std::vector<float> text = {1, 0, 0};
  std::vector<std::vector<float>> labels = {{0, 1, 0}, {2, 0.1f, 0}, {-1, 0, 0}};
  auto r = tasks::EmbeddingZeroShot(text, labels, 0.05);
  EXPECT_NEAR(r.scores[0], 0.0, 1e-6);
  EXPECT_NEAR(r.scores[2], -1.0, 1e-6);
  EXPECT_GT(r.probs[1], r.probs[0]);
  EXPECT_GT(r.probs[0], r.probs[2]);
}

}  // namespace
}  // namespace infer
