// The embedded default generation model, models/gpt2-en-mini (trained by
// scripts/train_default_lm.py): the folder loads as a GPT-2 causal LM, our tokenizer gives the
// `tokenizers` library's ids, the prompt logits match transformers within 1e-4 relative and the
// greedy generations equal transformers' token for token (models/gpt2-en-mini/expected.json,
// written by the script's --record step).
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/runtime/generation_options.h"
#include "server/tasks/task_model.h"

namespace infer {
namespace {

// tests/golden/data -> repository root.
const std::string kModelDir = std::string(INFER_GOLDEN_DIR) + "/../../../models/gpt2-en-mini";

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

class DefaultLmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = kernels::MakeCpuBackend().release();
    auto m = tasks::TaskModel::Load(kModelDir, backend_);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = m->release();
    expected_ = new nlohmann::json(ReadJson(kModelDir + "/expected.json"));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete backend_;
    delete expected_;
    model_ = nullptr;
    backend_ = nullptr;
    expected_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(model_, nullptr) << "models/gpt2-en-mini did not load";
  }

  static kernels::Backend* backend_;
  static tasks::TaskModel* model_;
  static nlohmann::json* expected_;
};

kernels::Backend* DefaultLmTest::backend_ = nullptr;
tasks::TaskModel* DefaultLmTest::model_ = nullptr;
nlohmann::json* DefaultLmTest::expected_ = nullptr;

TEST_F(DefaultLmTest, FolderLoadsAsGpt2CausalLm) {
  const nlohmann::json config = ReadJson(kModelDir + "/config.json");
  EXPECT_TRUE(model_->causal());
  EXPECT_EQ(model_->info().vocab_size, config["vocab_size"].get<int>());
  EXPECT_EQ(model_->info().hidden_size, config["n_embd"].get<int>());
  EXPECT_EQ(model_->info().max_positions, config["n_positions"].get<int>());
  EXPECT_EQ(model_->tokenizer().vocab_size(), config["vocab_size"].get<int>());
  const auto eot = model_->tokenizer().TokenToId("<|endoftext|>");
  ASSERT_TRUE(eot.has_value());
  EXPECT_EQ(model_->tokenizer().eos(), eot);
  EXPECT_EQ(model_->tokenizer().bos(), eot);
  EXPECT_TRUE(model_->tokenizer().IsSpecial(*eot));
  const auto& eos_ids = model_->generation_defaults().eos_token_ids;
  EXPECT_EQ(std::set<int32_t>(eos_ids.begin(), eos_ids.end()), std::set<int32_t>{*eot});
}

TEST_F(DefaultLmTest, TokenizerMatchesTokenizersLibrary) {
  const auto& cases = (*expected_)["tokenizer_cases"];
  ASSERT_GE(cases.size(), 3u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    SCOPED_TRACE(text);
    const auto want = c["ids"].get<std::vector<int32_t>>();
    tokenizer::Encoding e = model_->tokenizer().Encode(text, /*add_special_tokens=*/true);
    EXPECT_EQ(e.ids, want);
    EXPECT_EQ(model_->tokenizer().Decode(want), text);
  }
}

TEST_F(DefaultLmTest, PromptLogitsMatchTransformers) {
  runtime::LmEngine* lm = model_->lm();
  ASSERT_NE(lm, nullptr);
  int checked = 0;
  for (const auto& c : (*expected_)["generation_cases"]) {
    const std::string prompt = c["prompt"];
    SCOPED_TRACE(prompt);
    const auto prompt_ids = c["prompt_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(model_->tokenizer().Encode(prompt).ids, prompt_ids);
    auto seq = lm->NewSequence();
    ASSERT_TRUE(seq.ok()) << seq.status();
    runtime::StepItem item{*seq, prompt_ids};
    runtime::StepOutput out;
    absl::Status st = lm->Step({&item, 1}, /*want_hidden=*/false, &out);
    lm->Release(*seq);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(out.logits.size(), static_cast<size_t>(lm->vocab_size()));

    const auto top_ids = c["top_logit_ids"].get<std::vector<int32_t>>();
    const auto want = c["top_logits"].get<std::vector<float>>();
    ASSERT_EQ(top_ids.size(), want.size());
    std::vector<float> got;
    for (int32_t id : top_ids) got.push_back(out.logits[id]);
    EXPECT_LT(testing::RelativeError(got, want), testing::kFloat32Tolerance);
    // transformers' top-1 is ours too (the recorded values are far enough apart to make this firm
    // unless the first two tie within the tolerance).
    size_t argmax = 0;
    for (size_t v = 1; v < out.logits.size(); ++v)
      if (out.logits[v] > out.logits[argmax]) argmax = v;
    if (want[0] - want[1] > 1e-3f * std::fabs(want[0])) {
      EXPECT_EQ(static_cast<int32_t>(argmax), top_ids[0]);
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);
  EXPECT_EQ(lm->live_sequences(), 0);
}

TEST_F(DefaultLmTest, GreedyGenerationsMatchTransformers) {
  int checked = 0;
  for (const auto& c : (*expected_)["generation_cases"]) {
    const std::string prompt = c["prompt"];
    SCOPED_TRACE(c["name"].get<std::string>() + " " + prompt + " " + c["kwargs"].dump());
    // As the service builds options: the folder's generation_config.json, then the call's kwargs.
    runtime::GenerationOptions o = model_->generation_defaults();
    ASSERT_TRUE(runtime::MergeGenerationConfigJson(c["kwargs"], &o).ok());
    ASSERT_EQ(runtime::ResolveDecodingMode(o), runtime::DecodingMode::kGreedy);
    auto r = model_->Generate(prompt, o);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->sequences.size(), 1u);
    EXPECT_EQ(r->prompt_tokens, static_cast<int>(c["prompt_ids"].size()));
    const auto want = c["new_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(r->sequences[0].tokens, want);
    EXPECT_EQ(model_->tokenizer().Decode(r->sequences[0].tokens), c["text"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

// The folder's own defaults (greedy, repetition penalty, no repeated 3-grams) give text made of
// words: mostly letters and spaces, several distinct words, not one token over and over.
TEST_F(DefaultLmTest, DefaultGenerationIsWordLike) {
  for (const auto& c : (*expected_)["generation_cases"]) {
    if (c["name"] != "folder_defaults") continue;
    std::string text = c["text"];
    SCOPED_TRACE(text);
    const std::string eot = "<|endoftext|>";
    for (size_t at; (at = text.find(eot)) != std::string::npos;) text.erase(at, eot.size());
    size_t letters = 0, spaces = 0;
    std::set<std::string> words;
    std::string word;
    for (char ch : text + " ") {
      if (std::isalpha(static_cast<unsigned char>(ch))) {
        ++letters;
        word += ch;
      } else {
        if (std::isspace(static_cast<unsigned char>(ch))) ++spaces;
        if (!word.empty()) words.insert(word);
        word.clear();
      }
    }
    EXPECT_GT(letters + spaces, text.size() * 7 / 10);
    EXPECT_GE(words.size(), 5u);
  }
}

}  // namespace
}  // namespace infer
