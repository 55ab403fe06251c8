// The text-level tasks end to end (tokenizer + model + task): the golden texts give the golden
// embeddings, probabilities and logits; truncation is reported; wrong-model calls are rejected.
#include <gtest/gtest.h>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/tasks/task_model.h"

namespace infer {
namespace {

using testing::GoldenPath;
using testing::GoldenTensors;
using testing::ReadGoldenJson;
using testing::RelativeError;

class TaskModelTest : public ::testing::Test {
 protected:
  std::unique_ptr<tasks::TaskModel> Load(const std::string& name) {
    auto m = tasks::TaskModel::Load(GoldenPath("models/" + name), backend_.get());
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend();
};

TEST_F(TaskModelTest, EmbedTextsMatchGolden) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  nlohmann::json meta = ReadGoldenJson("expected/bert-embed.json");
  GoldenTensors want("expected/bert-embed.safetensors");
  std::vector<std::string> texts;
  for (const auto& c : meta["cases"]) texts.push_back(c["text"]);
  auto r = m->Embed(texts);
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto& c = meta["cases"][i];
    EXPECT_EQ(r->token_counts[i], static_cast<int>(c["input_ids"].size()));
    EXPECT_LT(RelativeError(r->vectors[i], want.Get(c["name"].get<std::string>() + ".embedding")),
              testing::kFloat32Tolerance);
  }
}

TEST_F(TaskModelTest, LongInputsAreTruncatedAndCounted) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "word ";
  auto r = m->Embed({long_text, "short"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->token_counts[0], m->max_input_tokens());
  EXPECT_GT(r->truncated[0], 0u);
  EXPECT_EQ(r->truncated[1], 0u);
}

TEST_F(TaskModelTest, ClassifyTextsAndPairsMatchGolden) {
  for (const std::string name : {"bert", "distilbert", "roberta"}) {
    SCOPED_TRACE(name);
    auto m = Load(name);
    ASSERT_TRUE(m);
    nlohmann::json meta = ReadGoldenJson("expected/" + name + ".json");
    for (const auto& c : meta["cases"]) {
      std::vector<std::string> pair;
      if (c.contains("text_pair")) pair.push_back(c["text_pair"]);
      auto r = m->Classify({c["text"].get<std::string>()}, pair);
      ASSERT_TRUE(r.ok()) << r.status();
      std::vector<float> want = c["probs"].get<std::vector<float>>();
      EXPECT_LT(testing::MaxAbsError(r->scores[0].probs, want), 1e-5) << c["name"];
      EXPECT_EQ(r->labels.size(), want.size());
    }
  }
}

TEST_F(TaskModelTest, NliZeroShotUsesEntailmentLogits) {
  auto m = Load("bert");
  ASSERT_TRUE(m);
  const std::string text = "the software is free";
  std::vector<std::string> labels = {"money", "law", "art"};
  auto z = m->ZeroShot(text, labels);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->method, tasks::ZeroShotMethod::kNli);
  auto c = m->Classify({text, text, text}, {"This example is money.", "This example is law.",
                                            "This example is art."});
  ASSERT_TRUE(c.ok());
  std::vector<double> entail;
  for (const auto& s : c->scores) entail.push_back(s.logits[2]);  // id2label 2 = entailment
  std::vector<double> want = tasks::SoftmaxD(entail);
  for (size_t i = 0; i < labels.size(); ++i) EXPECT_NEAR(z->scores.probs[i], want[i], 1e-6);
}

TEST_F(TaskModelTest, EmbeddingAndLmZeroShotGiveDistributions) {
  auto e = Load("bert-embed");
  ASSERT_TRUE(e);
  auto ze = e->ZeroShot("free software", {"software", "weather"});
  ASSERT_TRUE(ze.ok()) << ze.status();
  EXPECT_EQ(ze->method, tasks::ZeroShotMethod::kEmbedding);
  EXPECT_NEAR(ze->scores.probs[0] + ze->scores.probs[1], 1.0, 1e-9);
  auto g = Load("gpt2");
  ASSERT_TRUE(g);
  auto zl = g->ZeroShot("You may copy the software.", {"permission", "restriction", "other"});
  ASSERT_TRUE(zl.ok()) << zl.status();
  EXPECT_EQ(zl->method, tasks::ZeroShotMethod::kLanguageModel);
  double sum = 0;
  for (double p : zl->scores.probs) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(g->lm()->live_sequences(), 0);
}

TEST_F(TaskModelTest, WrongTaskForModelIsInvalidArgument) {
  auto g = Load("gpt2");
  auto b = Load("bert");
  ASSERT_TRUE(g && b);
  EXPECT_EQ(g->info().family, "gpt2");
  EXPECT_TRUE(g->info().causal);
  EXPECT_EQ(b->info().family, "bert");
  EXPECT_EQ(g->Embed({"x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Classify({"x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->Generate("x", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->ZeroShot("x", {"only-one"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->Classify({"a", "b"}, {"one pair"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TaskModelTest, GreedyGenerationFromTextMatchesIdPath) {
  auto g = Load("gpt2");
  ASSERT_TRUE(g);
  runtime::GenerationOptions o = g->generation_defaults();
  o.max_new_tokens = 12;
  o.do_sample = false;
  std::vector<int32_t> streamed;
  runtime::GenerateHooks hooks;
  hooks.on_token = [&](const runtime::TokenEvent& ev) { streamed.push_back(ev.token); };
  auto r = g->Generate("The license", o, hooks);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sequences.size(), 1u);
  EXPECT_EQ(streamed, r->sequences[0].tokens);
  std::vector<int32_t> prompt = g->tokenizer().Encode("The license").ids;
  auto direct = runtime::Generate(*g->lm(), prompt, o);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->sequences[0].tokens, r->sequences[0].tokens);
  EXPECT_EQ(g->lm()->live_sequences(), 0);
}

}  // namespace
}  // namespace infer
