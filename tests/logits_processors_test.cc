// Logits processors and warpers: each one against transformers' own output on the same scores
// (tests/golden/data/expected/logits_processors.*), then properties that must hold on any input:
// top-k never keeps a token outside the k best, top-p keeps the smallest set reaching p, and the
// pipeline has transformers' order and members.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "golden_util.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/logits_warpers.h"
#include "server/runtime/score_math.h"

namespace infer::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::unique_ptr<LogitsProcessor> FromGoldenArgs(const nlohmann::json& a) {
  const std::string cls = a["class"];
  if (cls == "RepetitionPenaltyLogitsProcessor")
    return std::make_unique<RepetitionPenaltyProcessor>(a["penalty"].get<float>());
  if (cls == "NoRepeatNGramLogitsProcessor")
    return std::make_unique<NoRepeatNGramProcessor>(a["ngram_size"].get<int>());
  if (cls == "NoBadWordsLogitsProcessor") {
    std::vector<int32_t> eos;
    if (!a["eos_token_id"].is_null()) eos.push_back(a["eos_token_id"].get<int32_t>());
    return std::make_unique<NoBadWordsProcessor>(
        a["bad_words_ids"].get<std::vector<std::vector<int32_t>>>(), eos);
  }
  if (cls == "MinNewTokensLengthLogitsProcessor")
    return std::make_unique<MinNewTokensProcessor>(a["prompt_length_to_skip"].get<int>(),
                                                   a["min_new_tokens"].get<int>(),
                                                   std::vector<int32_t>{a["eos_token_id"].get<int32_t>()});
  if (cls == "TemperatureLogitsWarper")
    return std::make_unique<TemperatureWarper>(a["temperature"].get<float>());
  if (cls == "TopKLogitsWarper")
    return std::make_unique<TopKWarper>(a["top_k"].get<int>(), a["min_tokens_to_keep"].get<int>());
  if (cls == "TopPLogitsWarper")
    return std::make_unique<TopPWarper>(a["top_p"].get<double>(), a["min_tokens_to_keep"].get<int>());
  return nullptr;
}

TEST(LogitsProcessorsGolden, EachMatchesTransformers) {
  const nlohmann::json meta = testing::ReadGoldenJson("expected/logits_processors.json");
  testing::GoldenTensors tensors("expected/logits_processors.safetensors");
  const int vocab = meta["vocab_size"];
  const std::vector<float> input = tensors.Get("input.scores");
  ASSERT_EQ(input.size(), 2u * vocab);
  const auto ids = meta["input_ids"].get<std::vector<std::vector<int32_t>>>();
  ASSERT_GE(meta["processors"].size(), 10u);
  for (const auto& p : meta["processors"]) {
    const std::string name = p["name"];
    SCOPED_TRACE(name);
    auto proc = FromGoldenArgs(p["args"]);
    ASSERT_NE(proc, nullptr) << "no processor for " << p["args"].dump();
    const std::vector<float> want = tensors.Get(p["tensor"].get<std::string>());
    ASSERT_EQ(want.size(), input.size());
    for (int row = 0; row < 2; ++row) {
      std::vector<float> got(input.begin() + row * vocab, input.begin() + (row + 1) * vocab);
      proc->Apply(ids[row], got);
      int changed = 0;
      for (int v = 0; v < vocab; ++v) {
        const float w = want[row * vocab + v];
        if (std::isinf(w)) {
          EXPECT_EQ(got[v], w) << "row " << row << " token " << v;
        } else {
          EXPECT_FLOAT_EQ(got[v], w) << "row " << row << " token " << v;
        }
        changed += got[v] != input[row * vocab + v];
      }
      EXPECT_EQ(changed, p["num_changed_per_row"][row].get<int>()) << "row " << row;
    }
  }
}

// ---- properties on random scores ----

std::vector<float> RandomScores(std::mt19937& rng, int vocab, float scale = 3.0f) {
  std::normal_distribution<float> n(0.0f, scale);
  std::vector<float> s(vocab);
  for (float& v : s) v = n(rng);
  return s;
}

TEST(TopK, NeverKeepsATokenOutsideTheTopK) {
  for (uint32_t seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    const int vocab = 20 + seed % 200;
    const int k = 1 + seed % 37;
    std::vector<float> scores = RandomScores(rng, vocab);
    std::vector<float> sorted = scores;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    const float kth = sorted[std::min(k, vocab) - 1];
    TopKWarper(k).Apply({}, scores);
    int kept = 0;
    for (int v = 0; v < vocab; ++v) {
      if (scores[v] == kNegInf) continue;
      ++kept;
      EXPECT_GE(scores[v], kth) << "seed " << seed << " token " << v;
    }
    EXPECT_EQ(kept, std::min(k, vocab)) << "seed " << seed;  // random floats: no ties
  }
}

TEST(TopK, MinTokensToKeepRaisesK) {
  std::vector<float> s = {1, 2, 3, 4, 5};
  TopKWarper(1, 3).Apply({}, s);
  EXPECT_EQ(std::count(s.begin(), s.end(), kNegInf), 2);
  EXPECT_EQ(s[4], 5.0f);
  EXPECT_EQ(s[2], 3.0f);
}

TEST(TopP, KeepsTheSmallestSetReachingP) {
  for (uint32_t seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(1000 + seed);
    const int vocab = 10 + seed % 100;
    const double p = 0.05 + 0.9 * ((seed * 37) % 100) / 100.0;
    std::vector<float> scores = RandomScores(rng, vocab);
    std::vector<float> probs(vocab);
    Softmax(scores, probs);
    std::vector<float> warped = scores;
    TopPWarper(p).Apply({}, warped);
    double kept_mass = 0.0, min_kept = 1.0, max_removed = 0.0;
    int kept = 0;
    for (int v = 0; v < vocab; ++v) {
      if (warped[v] == kNegInf) {
        max_removed = std::max<double>(max_removed, probs[v]);
      } else {
        EXPECT_EQ(warped[v], scores[v]);
        kept_mass += probs[v];
        min_kept = std::min<double>(min_kept, probs[v]);
        ++kept;
      }
    }
    SCOPED_TRACE("seed " + std::to_string(seed) + " p " + std::to_string(p));
    EXPECT_GE(kept, 1);
    EXPECT_GE(kept_mass, p - 1e-5);                       // reaches p
    EXPECT_LT(kept_mass - min_kept, p + 1e-5);            // dropping its least token would not
    EXPECT_LE(max_removed, min_kept);                     // and it is the top of the distribution
  }
}

TEST(TopP, KeepsMinTokens) {
  std::vector<float> s = {10.0f, 0.0f, -1.0f, -2.0f};
  TopPWarper(0.1, 3).Apply({}, s);
  EXPECT_EQ(std::count(s.begin(), s.end(), kNegInf), 1);
  EXPECT_EQ(s[3], kNegInf);
}

TEST(MinP, RemovesTokensBelowScaledTopProbability) {
  std::vector<float> s = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  MinPWarper(0.2).Apply({}, s);  // threshold 0.1
  EXPECT_NE(s[2], kNegInf);
  EXPECT_EQ(s[3], kNegInf);
  std::vector<float> t = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  MinPWarper(0.9, 2).Apply({}, t);  // threshold 0.45 would keep one; min_tokens_to_keep keeps two
  EXPECT_NE(t[1], kNegInf);
  EXPECT_EQ(t[2], kNegInf);
}

TEST(Temperature, DividesEveryScore) {
  std::vector<float> s = {1.0f, -2.0f, 0.5f};
  TemperatureWarper(0.5f).Apply({}, s);
  EXPECT_EQ(s, (std::vector<float>{2.0f, -4.0f, 1.0f}));
}

TEST(RepetitionPenalty, DividesPositiveMultipliesNegativeOncePerToken) {
  std::vector<float> s = {2.0f, -2.0f, 3.0f, -1.0f};
  const std::vector<int32_t> ids = {0, 1, 0, 0, 1};
  RepetitionPenaltyProcessor(2.0f).Apply(ids, s);
  EXPECT_EQ(s, (std::vector<float>{1.0f, -4.0f, 3.0f, -1.0f}));
}

TEST(NoRepeatNGram, BansTheTokenThatWouldRepeatAnNGram) {
  std::vector<float> s(10, 0.0f);
  // trigram (1 2 3) appeared; the context ends in (1 2): 3 is banned. (2 3 4) too: nothing else.
  NoRepeatNGramProcessor(3).Apply(std::vector<int32_t>{1, 2, 3, 4, 1, 2}, s);
  for (int v = 0; v < 10; ++v) EXPECT_EQ(s[v] == kNegInf, v == 3) << v;
  std::vector<float> t(10, 0.0f);
  NoRepeatNGramProcessor(3).Apply(std::vector<int32_t>{1}, t);  // too short for any trigram
  EXPECT_EQ(std::count(t.begin(), t.end(), kNegInf), 0);
}

TEST(NoBadWords, PrefixRuleAndContextLength) {
  const std::vector<std::vector<int32_t>> words = {{5}, {1, 2, 7}, {9}};
  NoBadWordsProcessor p(words, std::vector<int32_t>{9});  // [9] is eos: never banned
  std::vector<float> s(10, 1.0f);
  p.Apply(std::vector<int32_t>{4, 1, 2}, s);
  EXPECT_EQ(s[5], kNegInf);
  EXPECT_EQ(s[7], kNegInf);
  EXPECT_EQ(s[9], 1.0f);
  // The prefix (1 2) matches but the context is shorter than the word: transformers skips it.
  std::vector<float> t(10, 1.0f);
  p.Apply(std::vector<int32_t>{1, 2}, t);
  EXPECT_EQ(t[7], 1.0f);
  // No prefix match: not banned.
  std::vector<float> u(10, 1.0f);
  p.Apply(std::vector<int32_t>{2, 1, 3}, u);
  EXPECT_EQ(u[7], 1.0f);
}

TEST(MinLength, BansEveryEosUntilReached) {
  std::vector<float> s(6, 0.5f);
  MinNewTokensProcessor(3, 2, {4, 5}).Apply(std::vector<int32_t>{0, 0, 0, 1}, s);
  EXPECT_EQ(s[4], kNegInf);
  EXPECT_EQ(s[5], kNegInf);
  std::vector<float> t(6, 0.5f);
  MinNewTokensProcessor(3, 2, {4, 5}).Apply(std::vector<int32_t>{0, 0, 0, 1, 1}, t);
  EXPECT_EQ(std::count(t.begin(), t.end(), kNegInf), 0);
  std::vector<float> u(6, 0.5f);
  MinLengthProcessor(5, {4}).Apply(std::vector<int32_t>{0, 0, 0, 1}, u);
  EXPECT_EQ(u[4], kNegInf);
}

TEST(Pipeline, MembersFollowTransformers) {
  GenerationOptions o;
  EXPECT_TRUE(BuildLogitsPipeline(o, DecodingMode::kGreedy, 3).empty());
  // Sampling with transformers' defaults (top_k 50) has one warper.
  EXPECT_EQ(BuildLogitsPipeline(o, DecodingMode::kSample, 3).size(), 1u);
  o.repetition_penalty = 1.2;
  o.no_repeat_ngram_size = 2;
  o.bad_words_ids = {{1}};
  o.min_new_tokens = 2;
  o.eos_token_ids = {0};
  o.temperature = 0.7;
  o.top_p = 0.9;
  o.min_p = 0.05;
  EXPECT_EQ(BuildLogitsPipeline(o, DecodingMode::kGreedy, 3).size(), 4u);  // no warpers
  EXPECT_EQ(BuildLogitsPipeline(o, DecodingMode::kSample, 3).size(), 8u);
  o.eos_token_ids.clear();  // min_new_tokens needs an eos
  EXPECT_EQ(BuildLogitsPipeline(o, DecodingMode::kGreedy, 3).size(), 3u);
}

TEST(Pipeline, PenaltyComesBeforeTopK) {
  // The repeated best token is penalised first, so top-1 then keeps the runner-up.
  GenerationOptions o;
  o.repetition_penalty = 4.0;
  o.top_k = 1;
  LogitsPipeline p = BuildLogitsPipeline(o, DecodingMode::kSample, 1);
  std::vector<float> s = {3.0f, 2.0f, -1.0f};
  p.Apply(std::vector<int32_t>{0}, s);
  EXPECT_EQ(s[0], kNegInf);  // 3 / 4 = 0.75 < 2: token 1 is the top-1 now
  EXPECT_EQ(s[1], 2.0f);
  EXPECT_EQ(s[2], kNegInf);
}

}  // namespace
}  // namespace infer::runtime
