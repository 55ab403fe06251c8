// Greedy, penalised, beam and contrastive generations of the golden GPT-2 folders against
// transformers' model.generate (tests/golden/data/expected/generation.json): the same token ids,
// and for beam search the same sequences_scores. Options are built the way the service builds them:
// the folder's generation_config.json first, then the call's kwargs on top.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <memory>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/runtime/decoder.h"
#include "server/runtime/generate.h"
#include "server/runtime/lm_engine.h"

namespace infer {
namespace {

using runtime::GenerationOptions;

struct Engine {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend();
  std::unique_ptr<runtime::LmEngine> lm;
};

Engine* GetEngine(const std::string& model) {
  static std::map<std::string, std::unique_ptr<Engine>> engines;
  auto& e = engines[model];
  if (!e) {
    e = std::make_unique<Engine>();
    auto m = model::LoadModel(testing::GoldenPath("models/" + model), e->backend.get());
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return nullptr;
    runtime::LmEngineOptions o;
    o.block_size = 16;
    o.num_blocks = 256;
    e->lm = std::make_unique<runtime::LmEngine>(std::move(m->decoder), e->backend.get(), o);
  }
  return e->lm ? e.get() : nullptr;
}

// Forwards to the engine and counts the model steps a decoder runs.
class CountingLm : public runtime::CausalLm {
 public:
  explicit CountingLm(runtime::CausalLm& lm) : lm_(lm) {}
  int vocab_size() const override { return lm_.vocab_size(); }
  int hidden_size() const override { return lm_.hidden_size(); }
  int max_positions() const override { return lm_.max_positions(); }
  absl::StatusOr<runtime::SeqId> NewSequence() override { return lm_.NewSequence(); }
  absl::StatusOr<runtime::SeqId> Fork(runtime::SeqId src) override { return lm_.Fork(src); }
  void Release(runtime::SeqId seq) override { lm_.Release(seq); }
  int Length(runtime::SeqId seq) const override { return lm_.Length(seq); }
  absl::Status Step(std::span<const runtime::StepItem> items, bool want_hidden,
                    runtime::StepOutput* out) override {
    ++steps;
    return lm_.Step(items, want_hidden, out);
  }
  int steps = 0;

 private:
  runtime::CausalLm& lm_;
};

// Checks one prompt row's result against transformers: the tokens (transformers pads rows that
// finished early; ours just end), and for beam search the sequence scores, which must also be the
// sum of the reported per-token log-probabilities over length ** length_penalty.
void ExpectMatches(const nlohmann::json& c, size_t prompt_row, const runtime::GenerationOptions& options,
                   const runtime::GenerationResult& result) {
  const int per_prompt = options.num_return_sequences;
  const int32_t pad = c["kwargs"].value("pad_token_id", -1);
  ASSERT_EQ(result.sequences.size(), static_cast<size_t>(per_prompt));
  for (int r = 0; r < per_prompt; ++r) {
    const auto& got = result.sequences[r];
    const auto want = c["new_ids"][prompt_row * per_prompt + r].get<std::vector<int32_t>>();
    ASSERT_LE(got.tokens.size(), want.size());
    std::vector<int32_t> head(want.begin(), want.begin() + got.tokens.size());
    EXPECT_EQ(got.tokens, head) << "return sequence " << r;
    for (size_t t = got.tokens.size(); t < want.size(); ++t)
      EXPECT_EQ(want[t], pad) << "transformers generated more tokens at " << t;
    if (options.logprobs) {
      EXPECT_EQ(got.logprobs.size(), got.tokens.size());
    }
    if (c.contains("sequences_scores")) {
      const double want_score = c["sequences_scores"][prompt_row * per_prompt + r].get<double>();
      EXPECT_NEAR(got.score, want_score, 1e-4 * std::max(1.0, std::fabs(want_score)));
      if (options.logprobs) {
        double sum = 0.0;
        for (float lp : got.logprobs) sum += lp;
        const double expected_sum =
            got.score * std::pow(static_cast<double>(got.tokens.size()), options.length_penalty);
        EXPECT_NEAR(sum, expected_sum, 1e-3 * std::max(1.0, std::fabs(expected_sum)));
      }
    }
  }
}

class GenerationGolden : public ::testing::TestWithParam<int> {};

TEST(GenerationGoldenFile, HasEveryStrategy) {
  nlohmann::json golden = testing::ReadGoldenJson("expected/generation.json");
  std::map<std::string, int> modes;
  for (const auto& c : golden["cases"]) {
    GenerationOptions o;
    ASSERT_TRUE(runtime::MergeGenerationConfigJson(c["kwargs"], &o).ok());
    modes[runtime::DecodingModeName(runtime::ResolveDecodingMode(o))]++;
  }
  EXPECT_GT(modes["greedy"], 0);
  EXPECT_GT(modes["beam_search"], 0);
  EXPECT_GT(modes["contrastive_search"], 0);
}

TEST_P(GenerationGolden, MatchesTransformers) {
  static const nlohmann::json golden = testing::ReadGoldenJson("expected/generation.json");
  const int index = GetParam();
  ASSERT_LT(index, static_cast<int>(golden["cases"].size()));
  const nlohmann::json& c = golden["cases"][index];
  const std::string model = c["model"];
  SCOPED_TRACE(model + " " + c["name"].get<std::string>() + " " + c["kwargs"].dump());

  Engine* engine = GetEngine(model);
  ASSERT_NE(engine, nullptr);
  auto defaults = runtime::LoadGenerationDefaults(testing::GoldenPath("models/" + model));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  GenerationOptions options = *defaults;
  ASSERT_TRUE(runtime::MergeGenerationConfigJson(c["kwargs"], &options).ok());
  options.logprobs = true;

  const auto& prompts = c["prompt_ids"];
  for (size_t p = 0; p < prompts.size(); ++p) {
    SCOPED_TRACE("prompt row " + std::to_string(p));
    const std::vector<int32_t> prompt = prompts[p].get<std::vector<int32_t>>();
    std::vector<runtime::TokenEvent> streamed;
    runtime::GenerateHooks hooks;
    hooks.on_token = [&](const runtime::TokenEvent& e) { streamed.push_back(e); };
    CountingLm counting(*engine->lm);
    auto result = runtime::Generate(counting, prompt, options, hooks);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(engine->lm->live_sequences(), 0) << "sequences left in the KV cache";

    ExpectMatches(c, p, options, *result);
    size_t streamed_count = 0;
    for (const auto& seq : result->sequences) streamed_count += seq.tokens.size();
    EXPECT_EQ(streamed.size(), streamed_count) << "every token goes through on_token";
    // Beam search runs the model once per decoding step (the prefill for the first, one batch for
    // each later one): as many steps as transformers ran BeamSearchScorer.process. With several
    // prompts transformers runs until all are done, so only single-prompt cases say.
    if (c.contains("beam_steps") && prompts.size() == 1) {
      EXPECT_EQ(counting.steps, c["beam_steps"].get<int>());
    }
  }
}

// Every case of one model at once: each prompt row is a decoder, and every iteration runs the
// pending items of all unfinished decoders as one batch (mixing prefills, beams, contrastive
// candidates and single tokens), as the scheduler does. Results must not change.
TEST(GenerationGoldenBatched, AllCasesOfAModelInOneBatch) {
  const nlohmann::json golden = testing::ReadGoldenJson("expected/generation.json");
  for (const std::string model : {"gpt2", "gpt2-f16"}) {
    SCOPED_TRACE(model);
    Engine e;
    auto m = model::LoadModel(testing::GoldenPath("models/" + model), e.backend.get());
    ASSERT_TRUE(m.ok()) << m.status();
    runtime::LmEngineOptions lo;
    lo.block_size = 16;
    lo.num_blocks = 2048;
    e.lm = std::make_unique<runtime::LmEngine>(std::move(m->decoder), e.backend.get(), lo);
    auto defaults = runtime::LoadGenerationDefaults(testing::GoldenPath("models/" + model));
    ASSERT_TRUE(defaults.ok());

    struct Job {
      const nlohmann::json* c;
      size_t row;
      GenerationOptions options;
      std::unique_ptr<runtime::Decoder> decoder;
    };
    std::vector<Job> jobs;
    for (const auto& c : golden["cases"]) {
      if (c["model"] != model) continue;
      GenerationOptions o = *defaults;
      ASSERT_TRUE(runtime::MergeGenerationConfigJson(c["kwargs"], &o).ok());
      o.logprobs = true;
      for (size_t p = 0; p < c["prompt_ids"].size(); ++p) {
        const auto prompt = c["prompt_ids"][p].get<std::vector<int32_t>>();
        auto d = runtime::MakeDecoder(*e.lm, prompt, o, {});
        ASSERT_TRUE(d.ok()) << d.status();
        jobs.push_back(Job{&c, p, o, std::move(*d)});
      }
    }
    ASSERT_GT(jobs.size(), 3u);
    std::vector<runtime::Decoder*> decoders;
    for (auto& j : jobs) decoders.push_back(j.decoder.get());
    ASSERT_TRUE(runtime::RunBatched(*e.lm, decoders).ok());
    EXPECT_EQ(e.lm->live_sequences(), 0);
    for (auto& j : jobs) {
      SCOPED_TRACE((*j.c)["name"].get<std::string>() + " row " + std::to_string(j.row));
      ASSERT_TRUE(j.decoder->finished());
      ExpectMatches(*j.c, j.row, j.options, j.decoder->TakeResult());
    }
  }
}

// Case names ("gpt2_beam_lp0_6_esnever_b7_23") for readable test names; read at start-up.
std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  std::ifstream in(testing::GoldenPath("expected/generation.json"));
  if (!in) return {"missing_golden_file"};  // the test then fails reading the file
  const nlohmann::json golden = nlohmann::json::parse(in);
  for (const auto& c : golden["cases"]) {
    std::string name = c.value("model", "") + "_" + c.value("name", "") + "_" +
                       std::to_string(names.size());
    for (char& ch : name) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    names.push_back(name);
  }
  return names;
}

const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = CaseNames();
  return names;
}

INSTANTIATE_TEST_SUITE_P(Cases, GenerationGolden,
                         ::testing::Range(0, static_cast<int>(Names().size())),
                         [](const ::testing::TestParamInfo<int>& info) { return Names()[info.param]; });

}  // namespace
}  // namespace infer
