// The decoding loops over a small deterministic CausalLm: stopping (eos, stop strings, length, the
// model's positions), streaming, cancellation, seeds, option checks, and the bookkeeping of model
// sequences (every NewSequence/Fork released on every path, beams and contrastive candidates
// stepped as one batch). Token-exact agreement with transformers is generation_golden_test.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/runtime/beam_search.h"
#include "server/runtime/contrastive_search.h"
#include "server/runtime/decoder.h"
#include "server/runtime/generate.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/score_math.h"

namespace infer::runtime {
namespace {

// Next-token logits depend on the last token and the sequence length through fixed random tables;
// hidden states on the token and its position. Counts every call that creates or frees a sequence.
class FakeLm : public CausalLm {
 public:
  FakeLm(int vocab = 32, int hidden = 8, int max_positions = 64, uint32_t seed = 1)
      : vocab_(vocab), hidden_(hidden), max_positions_(max_positions) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 2.0f);
    table_.resize(static_cast<size_t>(vocab) * vocab);
    for (float& v : table_) v = n(rng);
    pos_.resize(static_cast<size_t>(max_positions + 1) * vocab);
    for (float& v : pos_) v = 0.3f * n(rng);
    emb_.resize(static_cast<size_t>(vocab) * hidden);
    for (float& v : emb_) v = n(rng);
    pos_h_.resize(static_cast<size_t>(max_positions + 1) * hidden);
    for (float& v : pos_h_) v = 0.5f * n(rng);
  }

  int vocab_size() const override { return vocab_; }
  int hidden_size() const override { return hidden_; }
  int max_positions() const override { return max_positions_; }

  absl::StatusOr<SeqId> NewSequence() override {
    if (fail_new_) return absl::ResourceExhaustedError("no blocks");
    ++news;
    seqs_[next_] = {};
    return next_++;
  }
  absl::StatusOr<SeqId> Fork(SeqId src) override {
    auto it = seqs_.find(src);
    if (it == seqs_.end()) return absl::InvalidArgumentError("fork of unknown sequence");
    if (fail_fork_after_ >= 0 && forks >= fail_fork_after_)
      return absl::ResourceExhaustedError("no blocks to fork");
    ++forks;
    seqs_[next_] = it->second;
    return next_++;
  }
  void Release(SeqId seq) override {
    if (seqs_.erase(seq) == 0) {
      ++bad_releases;
    } else {
      ++releases;
    }
  }
  int Length(SeqId seq) const override {
    auto it = seqs_.find(seq);
    return it == seqs_.end() ? -1 : static_cast<int>(it->second.size());
  }

  absl::Status Step(std::span<const StepItem> items, bool want_hidden, StepOutput* out) override {
    if (fail_step_at_ >= 0 && steps == fail_step_at_) return absl::ResourceExhaustedError("KV full");
    ++steps;
    batch_sizes.push_back(static_cast<int>(items.size()));
    if (want_hidden) ++hidden_steps;
    out->vocab_size = vocab_;
    out->hidden_size = hidden_;
    out->logits.assign(items.size() * vocab_, 0.0f);
    out->hidden.clear();
    std::set<SeqId> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      auto it = seqs_.find(items[i].seq);
      if (it == seqs_.end()) return absl::InvalidArgumentError("unknown sequence");
      if (!seen.insert(items[i].seq).second) return absl::InvalidArgumentError("sequence twice");
      if (items[i].tokens.empty()) return absl::InvalidArgumentError("no tokens");
      std::vector<int32_t>& hist = it->second;
      for (int32_t t : items[i].tokens) {
        if (t < 0 || t >= vocab_) return absl::InvalidArgumentError("token out of range");
        if (static_cast<int>(hist.size()) >= max_positions_)
          return absl::InvalidArgumentError("sequence too long");
        hist.push_back(t);
        if (want_hidden) {
          for (int h = 0; h < hidden_; ++h)
            out->hidden.push_back(emb_[t * hidden_ + h] + pos_h_[(hist.size() - 1) * hidden_ + h]);
        }
      }
      Logits(hist, std::span<float>(out->logits).subspan(i * vocab_, vocab_));
    }
    if (after_step) after_step();
    return absl::OkStatus();
  }

  // The logits the model gives after `history` (what a cache-free reference would compute).
  void Logits(std::span<const int32_t> history, std::span<float> out) const {
    const int last = history.back();
    const size_t len = history.size();
    for (int v = 0; v < vocab_; ++v)
      out[v] = table_[static_cast<size_t>(last) * vocab_ + v] + pos_[len * vocab_ + v];
    if (bias) bias(history, out);
  }

  size_t live() const { return seqs_.size(); }
  bool balanced() const { return news + forks == releases && seqs_.empty() && bad_releases == 0; }

  int news = 0, forks = 0, releases = 0, bad_releases = 0, steps = 0, hidden_steps = 0;
  std::vector<int> batch_sizes;
  int fail_step_at_ = -1;    // Step number (0-based) that fails with RESOURCE_EXHAUSTED
  int fail_fork_after_ = -1;  // Fork fails once this many forks succeeded
  bool fail_new_ = false;
  std::function<void(std::span<const int32_t>, std::span<float>)> bias;
  std::function<void()> after_step;

 private:
  int vocab_, hidden_, max_positions_;
  std::vector<float> table_, pos_, emb_, pos_h_;
  absl::flat_hash_map<SeqId, std::vector<int32_t>> seqs_;
  SeqId next_ = 100;
};

GenerationOptions Greedy(int max_new) {
  GenerationOptions o;
  o.max_new_tokens = max_new;
  return o;
}

// Token i reads as a letter: 'a' + i % 26.
std::string Letters(std::span<const int32_t> ids) {
  std::string s;
  for (int32_t t : ids) s.push_back(static_cast<char>('a' + t % 26));
  return s;
}

// ---------------------------------------------------------------- greedy

TEST(Greedy, MatchesACacheFreeReference) {
  FakeLm lm;
  const std::vector<int32_t> prompt = {3, 1, 4};
  GenerationOptions o = Greedy(20);
  o.repetition_penalty = 1.5;
  o.no_repeat_ngram_size = 2;
  auto r = Generate(lm, prompt, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sequences.size(), 1u);

  std::vector<int32_t> hist = prompt;
  LogitsPipeline pipeline = BuildLogitsPipeline(o, DecodingMode::kGreedy, 3);
  std::vector<float> scores(lm.vocab_size());
  for (int i = 0; i < 20; ++i) {
    lm.Logits(hist, scores);
    pipeline.Apply(hist, scores);
    hist.push_back(Argmax(scores));
  }
  EXPECT_EQ(r->sequences[0].tokens, std::vector<int32_t>(hist.begin() + 3, hist.end()));
  EXPECT_EQ(r->sequences[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(lm.steps, 20);  // prefill + 19 single-token steps: the last token is never stepped
  EXPECT_TRUE(lm.balanced());
}

TEST(Greedy, StopsAtAnyEosAndKeepsIt) {
  FakeLm lm;
  // Eos ids 7 and 9 are unlikely until token 9 becomes overwhelming at length 6 (and 7 at 8).
  lm.bias = [](std::span<const int32_t> h, std::span<float> l) {
    l[7] -= 100.0f;
    l[9] -= 100.0f;
    if (h.size() == 6) l[9] += 200.0f;
    if (h.size() == 8) l[7] += 200.0f;
  };
  GenerationOptions o = Greedy(20);
  o.eos_token_ids = {7, 9};
  auto r = Generate(lm, std::vector<int32_t>{1, 2}, o);
  ASSERT_TRUE(r.ok());
  const auto& s = r->sequences[0];
  EXPECT_EQ(s.finish_reason, FinishReason::kEos);
  ASSERT_EQ(s.tokens.size(), 5u);  // positions 3..6 generated, the 5th one is eos 9
  EXPECT_EQ(s.tokens.back(), 9);
  EXPECT_TRUE(lm.balanced());
}

TEST(Greedy, MinNewTokensDelaysEos) {
  FakeLm lm;
  lm.bias = [](std::span<const int32_t>, std::span<float> l) { l[5] += 100.0f; };
  GenerationOptions o = Greedy(20);
  o.eos_token_ids = {5};
  o.min_new_tokens = 4;
  auto r = Generate(lm, std::vector<int32_t>{1}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sequences[0].tokens.size(), 5u);
  EXPECT_EQ(r->sequences[0].tokens.back(), 5);
}

TEST(Greedy, StopStringAcrossTokensKeepsTheTokens) {
  FakeLm lm;
  GenerationOptions o = Greedy(30);
  auto plain = Generate(lm, std::vector<int32_t>{2}, o);
  ASSERT_TRUE(plain.ok());
  const std::string text = Letters(plain->sequences[0].tokens);
  ASSERT_GE(text.size(), 12u);
  // A stop string spanning generated tokens 5..7.
  o.stop_strings = {"zzzzzzzz", text.substr(5, 3)};
  GenerateHooks hooks;
  hooks.detokenize = Letters;
  auto r = Generate(lm, std::vector<int32_t>{2}, o, hooks);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& s = r->sequences[0];
  EXPECT_EQ(s.finish_reason, FinishReason::kStop);
  EXPECT_EQ(s.stop_string_index, 1);
  EXPECT_EQ(Letters(s.tokens).find(text.substr(5, 3)), s.stop_offset);
  EXPECT_LE(s.tokens.size(), 8u);  // stopped at the token that completed it (or earlier repeat)
  EXPECT_EQ(Letters(s.tokens).substr(s.stop_offset, 3), text.substr(5, 3));
  EXPECT_TRUE(lm.balanced());
}

TEST(Greedy, StopStringsNeedADetokenizer) {
  FakeLm lm;
  GenerationOptions o = Greedy(5);
  o.stop_strings = {"x"};
  auto r = Generate(lm, std::vector<int32_t>{1}, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lm.news, 0);
}

TEST(Greedy, StopsWhereTheModelRunsOutOfPositions) {
  FakeLm lm(32, 8, /*max_positions=*/10);
  auto r = Generate(lm, std::vector<int32_t>{1, 2, 3, 4}, Greedy(50));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequences[0].tokens.size(), 6u);
  EXPECT_EQ(r->sequences[0].finish_reason, FinishReason::kLength);
  auto full = Generate(lm, std::vector<int32_t>(10, 1), Greedy(5));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(lm.balanced());
}

TEST(Greedy, DefaultLengthIsTransformersMaxLength20) {
  FakeLm lm;
  GenerationOptions o;
  auto r = Generate(lm, std::vector<int32_t>{1, 2, 3, 4, 5}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sequences[0].tokens.size(), 15u);
  o.max_length = 8;
  r = Generate(lm, std::vector<int32_t>{1, 2, 3, 4, 5}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sequences[0].tokens.size(), 3u);
}

TEST(Streaming, OneEventPerTokenAsItIsChosen) {
  FakeLm lm;
  GenerationOptions o = Greedy(6);
  o.top_logprobs = 3;
  std::vector<TokenEvent> events;
  std::vector<int> steps_at_event;
  GenerateHooks hooks;
  hooks.on_token = [&](const TokenEvent& e) {
    events.push_back(e);
    steps_at_event.push_back(lm.steps);
  };
  auto r = Generate(lm, std::vector<int32_t>{4}, o, hooks);
  ASSERT_TRUE(r.ok());
  const auto& s = r->sequences[0];
  ASSERT_EQ(events.size(), 6u);
  double sum = 0.0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].token, s.tokens[i]);
    EXPECT_EQ(events[i].logprob, s.logprobs[i]);
    ASSERT_EQ(events[i].top_logprobs.size(), 3u);
    EXPECT_EQ(events[i].top_logprobs[0].token, s.tokens[i]);  // greedy picks the best
    EXPECT_LE(events[i].logprob, 0.0f);
    EXPECT_EQ(steps_at_event[i], static_cast<int>(i) + 1) << "token " << i << " sent late";
    sum += s.logprobs[i];
  }
  EXPECT_NEAR(s.score, sum, 1e-9);
}

TEST(Cancellation, StopsWithinOneStep) {
  FakeLm lm;
  bool cancel = false;
  int steps_when_cancelled = -1;
  GenerateHooks hooks;
  hooks.on_token = [&](const TokenEvent&) {
    if (lm.steps == 4 && !cancel) {
      cancel = true;
      steps_when_cancelled = lm.steps;
    }
  };
  hooks.cancelled = [&] { return cancel; };
  auto r = Generate(lm, std::vector<int32_t>{1}, Greedy(50), hooks);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(lm.steps, steps_when_cancelled);  // not one more model step
  EXPECT_TRUE(lm.balanced());
}

TEST(Cancellation, EveryStrategyPollsAndReleases) {
  for (int mode = 0; mode < 4; ++mode) {
    SCOPED_TRACE(mode);
    FakeLm lm;
    GenerationOptions o = Greedy(30);
    if (mode == 1) { o.do_sample = true; o.num_return_sequences = 3; o.seed = 1; }
    if (mode == 2) { o.num_beams = 3; }
    if (mode == 3) { o.penalty_alpha = 0.5; o.top_k = 4; }
    GenerateHooks hooks;
    hooks.cancelled = [&] { return lm.steps >= 3; };
    auto r = Generate(lm, std::vector<int32_t>{1, 2}, o, hooks);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(lm.steps, 3);
    EXPECT_TRUE(lm.balanced()) << lm.news << " " << lm.forks << " " << lm.releases;
  }
}

TEST(Errors, ModelFailuresReleaseEverything) {
  for (int mode = 0; mode < 4; ++mode) {
    for (int fail_at = 0; fail_at < 4; ++fail_at) {
      SCOPED_TRACE(absl::StrCat("mode ", mode, " step ", fail_at));
      FakeLm lm;
      lm.fail_step_at_ = fail_at;
      GenerationOptions o = Greedy(10);
      if (mode == 1) { o.do_sample = true; o.num_return_sequences = 2; }
      if (mode == 2) { o.num_beams = 4; }
      if (mode == 3) { o.penalty_alpha = 0.6; o.top_k = 3; }
      auto r = Generate(lm, std::vector<int32_t>{5}, o);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
      EXPECT_TRUE(lm.balanced());
    }
    FakeLm forkless;
    forkless.fail_fork_after_ = 1;
    GenerationOptions o = Greedy(10);
    if (mode == 2) o.num_beams = 4;
    if (mode == 3) { o.penalty_alpha = 0.6; o.top_k = 3; }
    if (mode == 1) { o.do_sample = true; o.num_return_sequences = 3; }
    auto r = Generate(forkless, std::vector<int32_t>{5}, o);
    if (mode != 0) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << mode;
    }
    EXPECT_TRUE(forkless.balanced()) << mode;
  }
}

// ---------------------------------------------------------------- sampling

TEST(Sampling, SameSeedSameTokensDifferentSeedDifferentTokens) {
  FakeLm lm(200);
  GenerationOptions o = Greedy(30);
  o.do_sample = true;
  o.top_k = 0;
  o.temperature = 2.0;
  o.seed = 77;
  auto a = Generate(lm, std::vector<int32_t>{1}, o);
  auto b = Generate(lm, std::vector<int32_t>{1}, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sequences[0].tokens, b->sequences[0].tokens);
  EXPECT_EQ(a->seed, 77u);
  int same = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    o.seed = 77 + seed;
    auto c = Generate(lm, std::vector<int32_t>{1}, o);
    ASSERT_TRUE(c.ok());
    same += c->sequences[0].tokens == a->sequences[0].tokens;
  }
  EXPECT_LE(same, 1);
  // An unseeded request reports the seed that reproduces it.
  o.seed.reset();
  auto d = Generate(lm, std::vector<int32_t>{1}, o);
  ASSERT_TRUE(d.ok());
  o.seed = d->seed;
  auto e = Generate(lm, std::vector<int32_t>{1}, o);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(d->sequences[0].tokens, e->sequences[0].tokens);
  EXPECT_TRUE(lm.balanced());
}

TEST(Sampling, TemperatureZeroIsGreedy) {
  FakeLm lm;
  GenerationOptions o = Greedy(15);
  auto greedy = Generate(lm, std::vector<int32_t>{3}, o);
  o.do_sample = true;
  o.temperature = 0.0;
  o.seed = 5;
  auto t0 = Generate(lm, std::vector<int32_t>{3}, o);
  o.temperature = 1e-4;
  auto tiny = Generate(lm, std::vector<int32_t>{3}, o);
  ASSERT_TRUE(greedy.ok() && t0.ok() && tiny.ok());
  EXPECT_EQ(t0->mode, DecodingMode::kGreedy);
  EXPECT_EQ(tiny->mode, DecodingMode::kSample);
  EXPECT_EQ(t0->sequences[0].tokens, greedy->sequences[0].tokens);
  EXPECT_EQ(tiny->sequences[0].tokens, greedy->sequences[0].tokens);
}

TEST(Sampling, TopKTokensOnlyAndLogprobsOfTheWarpedDistribution) {
  FakeLm lm(50);
  GenerationOptions o = Greedy(25);
  o.do_sample = true;
  o.top_k = 3;
  o.logprobs = true;
  o.top_logprobs = 5;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    o.seed = seed;
    auto r = Generate(lm, std::vector<int32_t>{1}, o);
    ASSERT_TRUE(r.ok());
    const auto& s = r->sequences[0];
    std::vector<int32_t> hist = {1};
    std::vector<float> logits(50);
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      lm.Logits(hist, logits);
      const auto top3 = TopN(logits, 3);
      bool in_top = false;
      for (const auto& t : top3) in_top = in_top || t.token == s.tokens[i];
      EXPECT_TRUE(in_top) << "seed " << seed << " step " << i;
      // Warped: only three alternatives have a finite log-probability.
      EXPECT_TRUE(std::isinf(s.top_logprobs[i][3].logprob));
      hist.push_back(s.tokens[i]);
    }
  }
}

TEST(Logprobs, RawLogprobsComeFromTheModelsLogits) {
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode);
    FakeLm lm(50, 6);
    GenerationOptions o = Greedy(8);
    o.top_logprobs = 4;
    o.raw_logprobs = true;
    o.repetition_penalty = 3.0;
    if (mode == 0) { o.do_sample = true; o.top_k = 3; o.seed = 2; }
    if (mode == 1) { o.penalty_alpha = 0.5; o.top_k = 3; }
    if (mode == 2) { o.num_beams = 2; }
    auto r = Generate(lm, std::vector<int32_t>{1}, o);
    ASSERT_TRUE(r.ok()) << r.status();
    const auto& s = r->sequences[0];
    std::vector<int32_t> hist = {1};
    std::vector<float> logits(50), logp(50);
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      lm.Logits(hist, logits);
      LogSoftmax(logits, logp);
      EXPECT_FLOAT_EQ(s.logprobs[i], logp[s.tokens[i]]) << i;
      ASSERT_EQ(s.top_logprobs[i].size(), 4u);
      EXPECT_EQ(s.top_logprobs[i][0].token, Argmax(logits));  // before penalty and top-k
      EXPECT_FALSE(std::isinf(s.top_logprobs[i][3].logprob));
      hist.push_back(s.tokens[i]);
    }
  }
}

TEST(Sampling, NumReturnSequencesShareThePromptAndStepTogether) {
  FakeLm lm(100);
  GenerationOptions o = Greedy(12);
  o.do_sample = true;
  o.top_k = 0;
  o.temperature = 3.0;
  o.num_return_sequences = 4;
  o.seed = 9;
  std::map<int, int> per_sequence;
  GenerateHooks hooks;
  hooks.on_token = [&](const TokenEvent& e) { per_sequence[e.sequence_index]++; };
  auto r = Generate(lm, std::vector<int32_t>{1, 2, 3}, o, hooks);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->sequences.size(), 4u);
  std::set<std::vector<int32_t>> distinct;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r->sequences[i].tokens.size(), 12u);
    EXPECT_EQ(per_sequence[i], 12);
    distinct.insert(r->sequences[i].tokens);
  }
  EXPECT_GT(distinct.size(), 1u);
  EXPECT_EQ(lm.news, 1);   // one prefill
  EXPECT_EQ(lm.forks, 3);  // shared by the others
  EXPECT_EQ(lm.steps, 12);
  for (size_t i = 1; i < lm.batch_sizes.size(); ++i) EXPECT_EQ(lm.batch_sizes[i], 4);
  EXPECT_TRUE(lm.balanced());
}

// ---------------------------------------------------------------- beam search

TEST(BeamSearch, StepsAllBeamsAsOneBatchAndReleasesEverySequence) {
  FakeLm lm(40);
  GenerationOptions o = Greedy(8);
  o.num_beams = 4;
  o.num_return_sequences = 3;
  o.logprobs = true;
  auto r = Generate(lm, std::vector<int32_t>{1, 2}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sequences.size(), 3u);
  for (size_t i = 1; i < lm.batch_sizes.size(); ++i) EXPECT_EQ(lm.batch_sizes[i], 4);
  EXPECT_EQ(lm.steps, 8);
  EXPECT_EQ(lm.news, 1);
  EXPECT_TRUE(lm.balanced()) << lm.news << " " << lm.forks << " " << lm.releases;
  for (size_t i = 0; i < 3; ++i) {
    const auto& s = r->sequences[i];
    EXPECT_EQ(s.tokens.size(), 8u);
    if (i > 0) {
      EXPECT_GE(r->sequences[i - 1].score, s.score);
    }
    // length_penalty 1: the score is the mean log-probability of the generated tokens.
    double sum = 0.0;
    for (float lp : s.logprobs) sum += lp;
    EXPECT_NEAR(s.score, sum / 8.0, 1e-4);
  }
}

TEST(BeamSearch, FindsABetterSequenceThanGreedyWhenOneExists) {
  // Token 1 looks best first, but everything after it is flat; token 2 leads to a sure thing.
  FakeLm lm(10);
  lm.bias = [](std::span<const int32_t> h, std::span<float> l) {
    for (float& v : l) v = 0.0f;
    if (h.size() == 1) { l[1] = 3.0f; l[2] = 2.5f; }
    else if (h.back() == 2) { l[3] = 20.0f; }
  };
  GenerationOptions o = Greedy(2);
  auto greedy = Generate(lm, std::vector<int32_t>{0}, o);
  o.num_beams = 2;
  auto beam = Generate(lm, std::vector<int32_t>{0}, o);
  ASSERT_TRUE(greedy.ok() && beam.ok());
  EXPECT_EQ(greedy->sequences[0].tokens[0], 1);
  EXPECT_EQ(beam->sequences[0].tokens, (std::vector<int32_t>{2, 3}));
  EXPECT_TRUE(lm.balanced());
}

TEST(BeamSearch, EosFinishedHypothesesEndWithEos) {
  FakeLm lm(20);
  lm.bias = [](std::span<const int32_t> h, std::span<float> l) {
    l[0] += h.size() == 4 ? 50.0f : -50.0f;  // every beam wants to stop after three new tokens
  };
  GenerationOptions o = Greedy(10);
  o.num_beams = 3;
  o.num_return_sequences = 2;
  o.eos_token_ids = {0};
  o.early_stopping = EarlyStopping::kTrue;
  auto r = Generate(lm, std::vector<int32_t>{5}, o);
  ASSERT_TRUE(r.ok());
  for (const auto& s : r->sequences) {
    EXPECT_EQ(s.finish_reason, FinishReason::kEos);
    EXPECT_EQ(s.tokens.back(), 0);
    EXPECT_EQ(s.tokens.size(), 4u);
  }
  EXPECT_TRUE(lm.balanced());
}

TEST(BeamSearch, TokensStreamAtTheEnd) {
  FakeLm lm(30);
  GenerationOptions o = Greedy(5);
  o.num_beams = 3;
  o.num_return_sequences = 2;
  std::vector<TokenEvent> events;
  GenerateHooks hooks;
  hooks.on_token = [&](const TokenEvent& e) {
    EXPECT_EQ(lm.live(), 0u) << "beam tokens are final only once the search is over";
    events.push_back(e);
  };
  auto r = Generate(lm, std::vector<int32_t>{1}, o, hooks);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[0].sequence_index, 0);
  EXPECT_EQ(events[5].sequence_index, 1);
  EXPECT_EQ(events[7].token, r->sequences[1].tokens[2]);
}

TEST(BeamSearch, StopsWhenEveryBeamHoldsAStopString) {
  FakeLm lm(20);
  // After two new tokens every beam continues with token 5 ('f'); before that 5 is unlikely.
  lm.bias = [](std::span<const int32_t> h, std::span<float> l) {
    l[5] += h.size() == 3 ? 100.0f : -100.0f;
  };
  GenerationOptions o = Greedy(10);
  o.num_beams = 3;
  o.num_return_sequences = 2;
  o.stop_strings = {"f"};
  GenerateHooks hooks;
  hooks.detokenize = Letters;
  auto r = Generate(lm, std::vector<int32_t>{1}, o, hooks);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const auto& s : r->sequences) {
    EXPECT_EQ(s.finish_reason, FinishReason::kStop);
    ASSERT_EQ(s.tokens.size(), 3u);
    EXPECT_EQ(s.tokens.back(), 5);
    EXPECT_EQ(s.stop_offset, 2u);
  }
  EXPECT_TRUE(lm.balanced());
}

TEST(BeamSampling, IsReproducibleWithASeed) {
  FakeLm lm(50);
  GenerationOptions o = Greedy(10);
  o.num_beams = 3;
  o.do_sample = true;
  o.seed = 4;
  auto a = Generate(lm, std::vector<int32_t>{2}, o);
  auto b = Generate(lm, std::vector<int32_t>{2}, o);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status();
  EXPECT_EQ(a->mode, DecodingMode::kBeamSample);
  EXPECT_EQ(a->sequences[0].tokens, b->sequences[0].tokens);
  // A tiny top_k leaves fewer tokens than candidates are needed: still completes.
  o.top_k = 1;
  auto c = Generate(lm, std::vector<int32_t>{2}, o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(lm.balanced());
}

TEST(BeamHypotheses, KeepsTheBestAndScoresByLength) {
  BeamHypotheses h(2, 1.0, EarlyStopping::kHeuristic, 20);
  BeamHypothesis a, b, c;
  a.tokens = {1};
  b.tokens = {2};
  c.tokens = {3};
  h.Add(a, -4.0, 2);  // -2
  h.Add(b, -3.0, 3);  // -1
  EXPECT_DOUBLE_EQ(h.worst_score(), -2.0);
  h.Add(c, -6.0, 2);  // -3: worse than both, not kept
  EXPECT_EQ(h.size(), 2u);
  h.Add(c, -3.0, 2);  // -1.5: replaces -2
  EXPECT_DOUBLE_EQ(h.worst_score(), -1.5);
  const auto best = h.Best(2);
  EXPECT_EQ(best[0].tokens, std::vector<int32_t>{2});
  EXPECT_EQ(best[1].tokens, std::vector<int32_t>{3});
  // Heuristic: done when the best running beam, at the current length, cannot beat the worst.
  EXPECT_TRUE(h.IsDone(-10.0, 5, 1));   // -10 / 4 = -2.5 <= -1.5
  EXPECT_FALSE(h.IsDone(-4.0, 5, 1));   // -4 / 4 = -1 > -1.5
  BeamHypotheses never(2, 1.0, EarlyStopping::kNever, 20);
  never.Add(a, -4.0, 2);
  never.Add(b, -3.0, 3);
  EXPECT_FALSE(never.IsDone(-10.0, 5, 1));  // -10 / 19 could still beat -2
  EXPECT_TRUE(never.IsDone(-40.0, 5, 1));
  BeamHypotheses eager(2, 1.0, EarlyStopping::kTrue, 20);
  eager.Add(a, -4.0, 2);
  EXPECT_FALSE(eager.IsDone(-100.0, 5, 1));
  eager.Add(b, -3.0, 3);
  EXPECT_TRUE(eager.IsDone(0.0, 5, 1));
}

// ---------------------------------------------------------------- contrastive search

TEST(ContrastiveSearch, CandidatesForkAndStepTogetherWithHiddenStates) {
  FakeLm lm(30, 6);
  GenerationOptions o = Greedy(7);
  o.penalty_alpha = 0.6;
  o.top_k = 4;
  auto r = Generate(lm, std::vector<int32_t>{1, 2, 3}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, DecodingMode::kContrastive);
  EXPECT_EQ(r->sequences[0].tokens.size(), 7u);
  EXPECT_EQ(lm.steps, 8);  // prefill + one candidate batch per token
  EXPECT_EQ(lm.hidden_steps, 8);
  for (size_t i = 1; i < lm.batch_sizes.size(); ++i) EXPECT_EQ(lm.batch_sizes[i], 4);
  EXPECT_EQ(lm.forks, 7 * 3);
  EXPECT_TRUE(lm.balanced());
}

TEST(ContrastiveSearch, AlphaZeroIsGreedy) {
  FakeLm lm(30, 6);
  GenerationOptions o = Greedy(10);
  auto greedy = Generate(lm, std::vector<int32_t>{4}, o);
  // penalty_alpha 0 is not contrastive search in transformers' mode rules; build it directly.
  o.penalty_alpha = 0.0;
  o.top_k = 5;
  DecodeSetup setup;
  setup.mode = DecodingMode::kContrastive;
  setup.prompt_len = 1;
  setup.max_new_tokens = 10;
  auto dec = MakeContrastiveDecoder(lm, std::vector<int32_t>{4}, o, setup, {});
  ASSERT_TRUE(dec.ok());
  auto cs = RunDecoder(lm, **dec, {});
  ASSERT_TRUE(greedy.ok() && cs.ok());
  EXPECT_EQ(cs->sequences[0].tokens, greedy->sequences[0].tokens);
}

TEST(ContrastiveSearch, RankPenalisesRepeatedHiddenStates) {
  // Context: one vector along x. Candidate 0 is more likely but points along x (cos 1);
  // candidate 1 is orthogonal (cos 0).
  const std::vector<float> context = {1, 0, 0};
  const std::vector<float> cands = {2, 0, 0, 0, 3, 0};
  const std::vector<float> probs = {0.6f, 0.4f};
  EXPECT_EQ(ContrastiveRank(context, cands, probs, 3, 0.5), 1);  // 0.3 - 0.5 < 0.2 - 0
  EXPECT_EQ(ContrastiveRank(context, cands, probs, 3, 0.1), 0);  // 0.54-0.1 > 0.36
  // The penalty is the maximum over the context.
  const std::vector<float> context2 = {1, 0, 0, 0, 1, 0};
  EXPECT_EQ(ContrastiveRank(context2, cands, probs, 3, 0.5), 0);  // both cos 1: probability wins
}

// ---------------------------------------------------------------- decoders batched together

TEST(Decoders, BatchedTogetherGiveWhatEachGivesAlone) {
  std::vector<GenerationOptions> opts;
  {
    GenerationOptions o = Greedy(9);
    o.repetition_penalty = 1.3;
    opts.push_back(o);
    o = Greedy(7);
    o.do_sample = true;
    o.seed = 3;
    o.num_return_sequences = 2;
    o.logprobs = true;
    opts.push_back(o);
    o = Greedy(6);
    o.num_beams = 3;
    o.num_return_sequences = 2;
    o.eos_token_ids = {4};
    opts.push_back(o);
    o = Greedy(8);
    o.penalty_alpha = 0.4;
    o.top_k = 3;
    opts.push_back(o);
    o = Greedy(5);
    o.eos_token_ids = {0, 1, 2, 3, 5, 6, 7, 8};  // likely to stop early
    opts.push_back(o);
  }
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7}, {9, 9}, {4, 5, 6, 7}, {8}};

  FakeLm alone_lm(24, 5);
  std::vector<GenerationResult> alone;
  for (size_t i = 0; i < opts.size(); ++i) {
    auto r = Generate(alone_lm, prompts[i], opts[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    alone.push_back(*r);
  }

  FakeLm lm(24, 5);
  std::vector<std::unique_ptr<Decoder>> owned;
  std::vector<Decoder*> decoders;
  for (size_t i = 0; i < opts.size(); ++i) {
    auto d = MakeDecoder(lm, prompts[i], opts[i], {});
    ASSERT_TRUE(d.ok()) << d.status();
    decoders.push_back(d->get());
    owned.push_back(std::move(*d));
  }
  ASSERT_TRUE(RunBatched(lm, decoders).ok());
  EXPECT_LT(lm.steps, alone_lm.steps);
  EXPECT_GT(*std::max_element(lm.batch_sizes.begin(), lm.batch_sizes.end()), 5);
  for (size_t i = 0; i < decoders.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(decoders[i]->finished());
    GenerationResult r = decoders[i]->TakeResult();
    ASSERT_EQ(r.sequences.size(), alone[i].sequences.size());
    for (size_t s = 0; s < r.sequences.size(); ++s) {
      EXPECT_EQ(r.sequences[s].tokens, alone[i].sequences[s].tokens);
      EXPECT_EQ(r.sequences[s].logprobs, alone[i].sequences[s].logprobs);
      EXPECT_EQ(r.sequences[s].finish_reason, alone[i].sequences[s].finish_reason);
    }
  }
  EXPECT_TRUE(lm.balanced());
}

TEST(Decoders, DroppingAnUnfinishedDecoderReleasesItsSequences) {
  FakeLm lm(24, 5);
  GenerationOptions o = Greedy(20);
  o.num_beams = 4;
  auto d = MakeDecoder(lm, std::vector<int32_t>{1, 2}, o, {});
  ASSERT_TRUE(d.ok());
  StepOutput out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(lm.Step((*d)->pending(), false, &out).ok());
    ASSERT_TRUE((*d)->Advance(out.logits, {}).ok());
  }
  EXPECT_EQ(lm.live(), 4u);
  d->reset();
  EXPECT_TRUE(lm.balanced());
}

// ---------------------------------------------------------------- options

TEST(Options, InvalidOptionsNameTheField) {
  FakeLm lm;
  struct Case {
    std::string field;
    std::function<void(GenerationOptions&)> set;
  };
  const std::vector<Case> cases = {
      {"max_new_tokens", [](auto& o) { o.max_new_tokens = 0; }},
      {"min_new_tokens", [](auto& o) { o.min_new_tokens = -1; }},
      {"temperature", [](auto& o) { o.temperature = -0.5; }},
      {"temperature", [](auto& o) { o.temperature = NAN; }},
      {"top_k", [](auto& o) { o.top_k = -1; }},
      {"top_p", [](auto& o) { o.top_p = 0.0; }},
      {"top_p", [](auto& o) { o.top_p = 1.5; }},
      {"min_p", [](auto& o) { o.min_p = 2.0; }},
      {"repetition_penalty", [](auto& o) { o.repetition_penalty = 0.0; }},
      {"no_repeat_ngram_size", [](auto& o) { o.no_repeat_ngram_size = -2; }},
      {"bad_words_ids", [](auto& o) { o.bad_words_ids = {{}}; }},
      {"bad_words_ids", [](auto& o) { o.bad_words_ids = {{1, 999}}; }},
      {"num_beams", [](auto& o) { o.num_beams = 0; }},
      {"num_return_sequences", [](auto& o) { o.num_return_sequences = 2; }},  // greedy
      {"num_return_sequences", [](auto& o) { o.num_beams = 2; o.num_return_sequences = 3; }},
      {"penalty_alpha", [](auto& o) { o.penalty_alpha = 1.5; }},
      {"eos_token_ids", [](auto& o) { o.eos_token_ids = {32}; }},
      {"stop_strings", [](auto& o) { o.stop_strings = {""}; }},
      {"top_logprobs", [](auto& o) { o.top_logprobs = -1; }},
      {"length_penalty", [](auto& o) { o.length_penalty = INFINITY; }},
  };
  for (const Case& c : cases) {
    GenerationOptions o = Greedy(5);
    c.set(o);
    auto r = Generate(lm, std::vector<int32_t>{1}, o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(r.status().message().find(c.field), std::string::npos)
        << c.field << ": " << r.status().message();
  }
  EXPECT_EQ(Generate(lm, std::vector<int32_t>{}, Greedy(3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Generate(lm, std::vector<int32_t>{40}, Greedy(3)).status().message().find("prompt"),
            std::string::npos);
  EXPECT_EQ(lm.news, 0);  // nothing was created for a rejected request
}

TEST(Options, GenerationConfigJsonOverlaysDefaults) {
  GenerationOptions o;
  const auto j = nlohmann::json::parse(R"({
    "eos_token_id": [50256, 7], "pad_token_id": 50256, "do_sample": true, "temperature": 0.8,
    "top_p": 0.9, "top_k": null, "max_length": 100, "early_stopping": "never",
    "bad_words_ids": [[1, 2], [3]], "stop_strings": "###", "transformers_version": "4.46.3"})");
  ASSERT_TRUE(MergeGenerationConfigJson(j, &o).ok());
  EXPECT_EQ(o.eos_token_ids, (std::vector<int32_t>{50256, 7}));
  EXPECT_EQ(o.pad_token_id, 50256);
  EXPECT_TRUE(o.do_sample);
  EXPECT_DOUBLE_EQ(o.temperature, 0.8);
  EXPECT_DOUBLE_EQ(o.top_p, 0.9);
  EXPECT_EQ(o.top_k, 50);  // null keeps the default
  EXPECT_EQ(o.max_length, 100);
  EXPECT_EQ(o.early_stopping, EarlyStopping::kNever);
  EXPECT_EQ(o.bad_words_ids.size(), 2u);
  EXPECT_EQ(o.stop_strings, std::vector<std::string>{"###"});
  EXPECT_EQ(ResolveMaxNewTokens(o, 30), 70);
  const auto bad = nlohmann::json::parse(R"({"top_k": "many"})");
  absl::Status s = MergeGenerationConfigJson(bad, &o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("top_k"), std::string::npos);
  const auto sometimes = nlohmann::json::parse(R"({"early_stopping": "sometimes"})");
  EXPECT_FALSE(MergeGenerationConfigJson(sometimes, &o).ok());
}

TEST(Options, ModeRules) {
  GenerationOptions o;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kGreedy);
  o.penalty_alpha = 0.6;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kContrastive);
  o.top_k = 1;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kGreedy);
  o.do_sample = true;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kSample);
  o.num_beams = 2;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kBeamSample);
  o.do_sample = false;
  EXPECT_EQ(ResolveDecodingMode(o), DecodingMode::kBeamSearch);
}

}  // namespace
}  // namespace infer::runtime
