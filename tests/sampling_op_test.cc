// Backend::SampleTokens on the CPU backend (kernels/cpu/sampling.cc) against server/runtime's
// processors, warpers and score math (the transformers 4.46 reference), plus the Philox draw of
// kernels/philox.h: known answers, determinism, and draw frequencies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <vector>

#include "kernels/backend.h"
#include "kernels/half_convert.h"
#include "kernels/philox.h"
#include "server/runtime/generation_options.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/sampler.h"
#include "server/runtime/score_math.h"

namespace infer {
namespace {

using kernels::SampleParams;
using kernels::SampleRow;
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- Philox -------------------------------------------------------------------------------

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Random123 kat_vectors, "philox4x32 10": counter[4] key[2] -> output[4].
  struct Kat {
    kernels::philox::Counter ctr;
    kernels::philox::Key key;
    uint32_t want[4];
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const kernels::philox::Counter out = kernels::philox::Philox4x32_10(k.ctr, k.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.x[i], k.want[i]) << "word " << i;
  }
}

TEST(Philox, DrawMappingIsTheDocumentedOne) {
  const uint64_t seed = 0x0123456789abcdefull, step = 0xfedcba9876543210ull;
  const kernels::philox::Counter x = kernels::philox::Philox4x32_10(
      {{0x76543210u, 0xfedcba98u, 0u, 0u}}, {{0x89abcdefu, 0x01234567u}});
  const uint64_t u53 = (static_cast<uint64_t>(x.x[0]) << 21) | (x.x[1] >> 11);
  EXPECT_EQ(kernels::philox::Uniform53(seed, step), u53);
  EXPECT_EQ(kernels::philox::UniformDouble(seed, step), static_cast<double>(u53) * 0x1p-53);
  EXPECT_EQ(kernels::philox::UniformFloat(seed, step),
            static_cast<float>(x.x[0] >> 8) * 0x1p-24f);
  // The draw index is counter word 2.
  const kernels::philox::Counter x1 = kernels::philox::Philox4x32_10(
      {{0x76543210u, 0xfedcba98u, 1u, 0u}}, {{0x89abcdefu, 0x01234567u}});
  EXPECT_EQ(kernels::philox::Uniform53(seed, step, 1),
            (static_cast<uint64_t>(x1.x[0]) << 21) | (x1.x[1] >> 11));
}

TEST(Philox, UniformsAreInRangeAndLookUniform) {
  const int n = 100000;
  double sum = 0.0;
  int low = 0;
  for (int i = 0; i < n; ++i) {
    const double u = kernels::philox::UniformDouble(42, static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    low += u < 0.1;
    const float f = kernels::philox::UniformFloat(7, static_cast<uint64_t>(i));
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
  }
  // Mean 1/2 with sd sqrt(1/12/n) ~ 9e-4; P(u < 0.1) = 0.1 with sd ~ 9.5e-4.
  EXPECT_NEAR(sum / n, 0.5, 5e-3);
  EXPECT_NEAR(static_cast<double>(low) / n, 0.1, 5e-3);
}

TEST(Philox, DrawThresholdIsFloorOfProduct) {
  using kernels::philox::SampleDrawThreshold;
  EXPECT_EQ(SampleDrawThreshold(0, 12345), 0u);
  EXPECT_EQ(SampleDrawThreshold((uint64_t{1} << 53) - 1, 1000), 999u);
  EXPECT_EQ(SampleDrawThreshold(uint64_t{1} << 52, 1000), 500u);  // u = 1/2
  const uint64_t big = uint64_t{1} << 63;
  EXPECT_EQ(SampleDrawThreshold(uint64_t{1} << 52, big), uint64_t{1} << 62);
  EXPECT_LT(SampleDrawThreshold((uint64_t{1} << 53) - 1, big), big);
  EXPECT_EQ(kernels::philox::DrawWeightShift(1), 62);
  EXPECT_EQ(kernels::philox::DrawWeightShift(2), 62);
  EXPECT_EQ(kernels::philox::DrawWeightShift(50257), 47);   // 2^16 > 50257 > 2^15
  EXPECT_EQ(kernels::philox::DrawWeightShift(262144), 45);  // exactly 2^18
  EXPECT_EQ(kernels::philox::ExpToFixed(1.0f, 45), uint64_t{1} << 45);
  EXPECT_EQ(kernels::philox::ExpToFixed(0.5f, 45), uint64_t{1} << 44);
  EXPECT_EQ(kernels::philox::ExpToFixed(0.0f, 45), 0u);
  EXPECT_EQ(kernels::philox::ExpToFixed(std::nanf(""), 45), 0u);
}

// ---- the op against server/runtime ----------------------------------------------------------

struct RowSpec {
  bool greedy = false;
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float penalty = 1.0f;
};

SampleRow ToRow(const RowSpec& s, uint64_t seed, uint64_t step, int64_t hb, int64_t he) {
  SampleRow r;
  r.greedy = s.greedy;
  r.temperature = s.temperature;
  r.top_k = s.top_k;
  r.top_p = s.top_p;
  r.min_p = s.min_p;
  r.repetition_penalty = s.penalty;
  r.seed = seed;
  r.step = step;
  r.history_begin = hb;
  r.history_end = he;
  return r;
}

// The processed scores of server/runtime for this row: BuildLogitsPipeline with the same knobs
// (as doubles, the way GenerationOptions holds them) over the row's history.
std::vector<float> RuntimeProcessed(const RowSpec& s, std::span<const float> logits,
                                    std::span<const int32_t> history) {
  runtime::GenerationOptions o;
  o.do_sample = !s.greedy;
  o.temperature = s.temperature;
  o.top_k = s.top_k;
  o.top_p = static_cast<double>(s.top_p);
  o.min_p = static_cast<double>(s.min_p);
  o.repetition_penalty = s.penalty;
  const runtime::LogitsPipeline pipeline = runtime::BuildLogitsPipeline(
      o, s.greedy ? runtime::DecodingMode::kGreedy : runtime::DecodingMode::kSample,
      static_cast<int>(history.size()));
  std::vector<float> scores(logits.begin(), logits.end());
  pipeline.Apply(history, scores);
  return scores;
}

struct Batch {
  int vocab = 0;
  std::vector<float> logits;      // [rows, vocab]
  std::vector<int32_t> history;   // all rows' histories
  std::vector<RowSpec> specs;
  std::vector<SampleRow> rows;
};

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<int32_t> top_tokens;
  std::vector<float> top_logprobs;
};

Result RunCpu(kernels::Backend& be, const Batch& b, int num_logprobs) {
  const int rows = static_cast<int>(b.rows.size());
  Result r;
  r.tokens.assign(rows, -7);
  r.logprobs.assign(rows, -7.0f);
  r.top_tokens.assign(static_cast<size_t>(rows) * num_logprobs, -7);
  r.top_logprobs.assign(static_cast<size_t>(rows) * num_logprobs, -7.0f);
  SampleParams p;
  p.logits = b.logits.data();
  p.rows = rows;
  p.vocab = b.vocab;
  p.rows_host = b.rows.data();
  p.history_host = b.history.data();
  p.num_logprobs = num_logprobs;
  p.tokens_host = r.tokens.data();
  p.logprobs_host = r.logprobs.data();
  p.top_tokens_host = num_logprobs ? r.top_tokens.data() : nullptr;
  p.top_logprobs_host = num_logprobs ? r.top_logprobs.data() : nullptr;
  be.SampleTokens(p);
  return r;
}

// Random logits: normal with the given scale, optionally rounded to bfloat16 (ties), with a few
// -inf entries (at most a third of the row, so some token stays finite).
std::vector<float> RandomLogits(int vocab, std::mt19937_64& rng, float scale, bool bf16,
                                int num_neg_inf) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(vocab);
  for (float& x : v) {
    x = dist(rng);
    if (bf16) x = kernels::Bf16ToFloat(kernels::FloatToBf16(x));
  }
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  for (int i = 0; i < std::min(num_neg_inf, vocab / 3); ++i) v[pick(rng)] = -kInf;
  return v;
}

void AddRow(Batch& b, const RowSpec& s, std::vector<float> logits, std::vector<int32_t> hist,
            uint64_t seed, uint64_t step) {
  const int64_t hb = static_cast<int64_t>(b.history.size());
  b.history.insert(b.history.end(), hist.begin(), hist.end());
  b.logits.insert(b.logits.end(), logits.begin(), logits.end());
  b.specs.push_back(s);
  b.rows.push_back(ToRow(s, seed, step, hb, static_cast<int64_t>(b.history.size())));
}

std::vector<int32_t> RandomHistory(int vocab, std::mt19937_64& rng, int len) {
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  std::vector<int32_t> h(len);
  for (int32_t& t : h) t = pick(rng);
  if (len > 4) {
    h[1] = h[0];   // duplicates are penalised once
    h[2] = -3;     // out-of-range ids are ignored
    h[3] = vocab;
  }
  return h;
}

std::vector<RowSpec> ParameterGrid() {
  std::vector<RowSpec> grid;
  for (float penalty : {1.0f, 1.2f}) {
    grid.push_back({true, 1.0f, 0, 1.0f, 0.0f, penalty});
    for (float t : {0.7f, 1.0f, 1.3f})
      for (int k : {0, 1, 5, 50})
        for (float p : {0.5f, 0.9f, 1.0f})
          for (float mp : {0.0f, 0.05f}) grid.push_back({false, t, k, p, mp, penalty});
  }
  return grid;
}

// Checks one row of the op's output against the runtime reference on the processed scores.
void ExpectRowMatchesRuntime(const Batch& b, const Result& r, int row, int num_logprobs) {
  const RowSpec& s = b.specs[row];
  const SampleRow& sr = b.rows[row];
  std::span<const float> logits(b.logits.data() + static_cast<size_t>(row) * b.vocab, b.vocab);
  std::span<const int32_t> hist(b.history.data() + sr.history_begin,
                                static_cast<size_t>(sr.history_end - sr.history_begin));
  const std::vector<float> processed = RuntimeProcessed(s, logits, hist);
  const int32_t token = r.tokens[row];
  SCOPED_TRACE(::testing::Message()
               << "row " << row << " greedy " << s.greedy << " T " << s.temperature << " k "
               << s.top_k << " p " << s.top_p << " min_p " << s.min_p << " penalty "
               << s.penalty << " vocab " << b.vocab);
  ASSERT_GE(token, 0);
  ASSERT_LT(token, b.vocab);
  if (s.greedy) {
    EXPECT_EQ(token, runtime::Argmax(processed));
  } else {
    EXPECT_GT(processed[token], -kInf) << "a removed token was drawn";
  }
  const runtime::ChosenLogprobs want = runtime::ComputeLogprobs(processed, token, num_logprobs);
  EXPECT_NEAR(r.logprobs[row], want.logprob, 1e-5);
  const int have = std::min(num_logprobs, b.vocab);
  for (int j = 0; j < num_logprobs; ++j) {
    const size_t o = static_cast<size_t>(row) * num_logprobs + j;
    if (j < have) {
      EXPECT_EQ(r.top_tokens[o], want.top[j].token) << "top " << j;
      if (std::isinf(want.top[j].logprob)) {
        EXPECT_EQ(r.top_logprobs[o], want.top[j].logprob) << "top " << j;
      } else {
        EXPECT_NEAR(r.top_logprobs[o], want.top[j].logprob, 1e-5) << "top " << j;
      }
    } else {
      EXPECT_EQ(r.top_tokens[o], -1);
      EXPECT_EQ(r.top_logprobs[o], -kInf);
    }
  }
  if (b.vocab <= num_logprobs) {
    // The top list covers the vocabulary: the surviving set is the finite entries.
    std::set<int32_t> kept_op, kept_ref;
    for (int j = 0; j < have; ++j) {
      const size_t o = static_cast<size_t>(row) * num_logprobs + j;
      if (r.top_logprobs[o] > -kInf) kept_op.insert(r.top_tokens[o]);
    }
    for (int i = 0; i < b.vocab; ++i)
      if (processed[i] > -kInf) kept_ref.insert(i);
    EXPECT_EQ(kept_op, kept_ref);
  }
}

class SamplingOpTest : public ::testing::Test {
 protected:
  std::unique_ptr<kernels::Backend> be_ = kernels::MakeCpuBackend();
};

TEST_F(SamplingOpTest, MatchesRuntimePipelineOnSmallVocabularies) {
  // vocab <= 32 with num_logprobs = 32: the whole processed distribution is compared.
  std::mt19937_64 rng(1234);
  const std::vector<RowSpec> grid = ParameterGrid();
  for (int vocab : {1, 2, 7, 17, 32}) {
    Batch b;
    b.vocab = vocab;
    uint64_t step = 0;
    for (int rep = 0; rep < 3; ++rep) {
      for (const RowSpec& s : grid) {
        const float scale = rep == 0 ? 1.0f : 3.0f;
        AddRow(b, s, RandomLogits(vocab, rng, scale, rep == 2, rep == 1 ? 2 : 0),
               RandomHistory(vocab, rng, 6), 99 + rep, step++);
      }
    }
    const Result r = RunCpu(*be_, b, 32);
    for (int row = 0; row < static_cast<int>(b.rows.size()); ++row)
      ExpectRowMatchesRuntime(b, r, row, 32);
  }
}

TEST_F(SamplingOpTest, MatchesRuntimePipelineOnLargerVocabularies) {
  std::mt19937_64 rng(77);
  const std::vector<RowSpec> grid = ParameterGrid();
  for (int vocab : {1000, 5003}) {
    Batch b;
    b.vocab = vocab;
    uint64_t step = 1000;
    for (const RowSpec& s : grid) {
      const bool bf16 = (step % 2) == 0;
      AddRow(b, s, RandomLogits(vocab, rng, 2.5f, bf16, 5), RandomHistory(vocab, rng, 40), 5,
             step++);
    }
    for (int num_logprobs : {0, 5, 20}) {
      const Result r = RunCpu(*be_, b, num_logprobs);
      for (int row = 0; row < static_cast<int>(b.rows.size()); ++row) {
        if (num_logprobs == 0) {
          // Token and its logprob only.
          const RowSpec& s = b.specs[row];
          const SampleRow& sr = b.rows[row];
          std::span<const float> logits(b.logits.data() + static_cast<size_t>(row) * vocab, vocab);
          std::span<const int32_t> hist(b.history.data() + sr.history_begin,
                                        static_cast<size_t>(sr.history_end - sr.history_begin));
          const std::vector<float> processed = RuntimeProcessed(s, logits, hist);
          ASSERT_GT(processed[r.tokens[row]], -kInf);
          EXPECT_NEAR(r.logprobs[row],
                      runtime::ComputeLogprobs(processed, r.tokens[row], 0).logprob, 1e-5);
        } else {
          ExpectRowMatchesRuntime(b, r, row, num_logprobs);
        }
      }
    }
  }
}

TEST_F(SamplingOpTest, TiesAtTheTopKAndTopPBoundariesFollowTransformers) {
  // Many equal scores: top-k keeps every copy of the k-th value; top-p's stable sort removes the
  // lower indices of a tie group first.
  Batch b;
  b.vocab = 24;
  std::vector<float> logits(24);
  for (int i = 0; i < 24; ++i) logits[i] = static_cast<float>(i % 4);  // 6 copies of 0..3
  uint64_t step = 0;
  for (int k : {1, 3, 6, 7, 13})
    AddRow(b, {false, 1.0f, k, 1.0f, 0.0f, 1.0f}, logits, {}, 1, step++);
  for (float p : {1e-9f, 0.05f, 0.2f, 0.3f, 0.5f, 0.61f, 0.8f, 0.99f})
    AddRow(b, {false, 1.0f, 0, p, 0.0f, 1.0f}, logits, {}, 1, step++);
  for (float mp : {0.2f, 0.37f, 0.5f, 1.0f})
    AddRow(b, {false, 1.0f, 0, 1.0f, mp, 1.0f}, logits, {}, 1, step++);
  AddRow(b, {true, 1.0f, 0, 1.0f, 0.0f, 1.0f}, logits, {}, 1, step++);  // greedy: first max, 3
  const Result r = RunCpu(*be_, b, 24);
  for (int row = 0; row < static_cast<int>(b.rows.size()); ++row)
    ExpectRowMatchesRuntime(b, r, row, 24);
  EXPECT_EQ(r.tokens.back(), 3);
  // top_k = 1 keeps all six copies of the maximum.
  int finite = 0;
  for (int j = 0; j < 24; ++j) finite += r.top_logprobs[j] > -kInf;
  EXPECT_EQ(finite, 6);
}

TEST_F(SamplingOpTest, GreedyIsTheRuntimeArgmaxAfterThePenalty) {
  std::mt19937_64 rng(5);
  Batch b;
  b.vocab = 3001;
  for (int i = 0; i < 64; ++i) {
    std::vector<float> logits = RandomLogits(b.vocab, rng, 2.0f, i % 2 == 0, 3);
    std::vector<int32_t> hist = RandomHistory(b.vocab, rng, 30);
    // Put the argmax in the history so that the penalty moves it.
    hist.push_back(static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                        logits.begin()));
    if (i % 3 == 0) logits[17] = logits[hist.back()];  // a tie with a lower index
    AddRow(b, {true, 1.0f, 0, 1.0f, 0.0f, i % 4 == 3 ? 1.0f : 1.2f + 0.3f * (i % 3)}, logits,
           hist, 0, static_cast<uint64_t>(i));
  }
  const Result r = RunCpu(*be_, b, 3);
  int moved = 0;
  for (int row = 0; row < 64; ++row) {
    ExpectRowMatchesRuntime(b, r, row, 3);
    const float* lg = b.logits.data() + static_cast<size_t>(row) * b.vocab;
    moved += r.tokens[row] != (std::max_element(lg, lg + b.vocab) - lg);
  }
  EXPECT_GT(moved, 10);  // the penalty changed the argmax of many rows
}

TEST_F(SamplingOpTest, SameSeedAndStepDrawTheSameTokenInAnyBatchSlot) {
  std::mt19937_64 rng(9);
  const std::vector<float> logits = RandomLogits(500, rng, 0.5f, false, 0);  // flat
  Batch b;
  b.vocab = 500;
  const RowSpec s{false, 1.0f, 0, 1.0f, 0.0f, 1.0f};
  for (int i = 0; i < 200; ++i) AddRow(b, s, logits, {}, 31337, static_cast<uint64_t>(i));
  // The same (seed, step) pairs again, in reverse order.
  for (int i = 199; i >= 0; --i) AddRow(b, s, logits, {}, 31337, static_cast<uint64_t>(i));
  const Result r = RunCpu(*be_, b, 0);
  std::set<int32_t> distinct;
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(r.tokens[i], r.tokens[399 - i]) << "step " << i;
    distinct.insert(r.tokens[i]);
  }
  // Different steps give different draws: 200 draws from ~500 near-uniform tokens.
  EXPECT_GT(distinct.size(), 120u);
  // Running again gives the same tokens; another seed gives other ones.
  const Result again = RunCpu(*be_, b, 0);
  EXPECT_EQ(again.tokens, r.tokens);
  for (SampleRow& row : b.rows) row.seed = 31338;
  const Result other = RunCpu(*be_, b, 0);
  int same = 0;
  for (int i = 0; i < 200; ++i) same += other.tokens[i] == r.tokens[i];
  EXPECT_LT(same, 10);
}

// Draw counts against the processed distribution: |count - N p| within 5 standard errors for
// every token, plus a chi-square bound.
void ExpectFrequencies(kernels::Backend& be, const std::vector<float>& logits, const RowSpec& s,
                       const std::vector<double>& probs, int n_draws) {
  Batch b;
  b.vocab = static_cast<int>(logits.size());
  for (int i = 0; i < n_draws; ++i) AddRow(b, s, logits, {}, 2024, static_cast<uint64_t>(i));
  const Result r = RunCpu(be, b, 0);
  std::vector<int> counts(logits.size(), 0);
  for (int32_t t : r.tokens) counts.at(t)++;
  double chi2 = 0.0;
  int dof = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expect = n_draws * probs[i];
    if (probs[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double sd = std::sqrt(n_draws * probs[i] * (1.0 - probs[i]));
    EXPECT_NEAR(counts[i], expect, 5.0 * sd + 1.0) << "token " << i;
    chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    ++dof;
  }
  // chi-square with <= 7 degrees of freedom: P(chi2 > 30) < 1e-4.
  EXPECT_LT(chi2, 30.0) << "dof " << dof;
}

TEST_F(SamplingOpTest, DrawFrequenciesMatchTheDistribution) {
  const std::vector<double> p = {0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.04, 0.01};
  std::vector<float> logits;
  for (double q : p) logits.push_back(static_cast<float>(std::log(q)));
  ExpectFrequencies(*be_, logits, {false, 1.0f, 0, 1.0f, 0.0f, 1.0f}, p, 20000);
  // top_k = 3 renormalises over the three most likely.
  std::vector<double> p3 = {0.30 / 0.65, 0.20 / 0.65, 0.15 / 0.65, 0, 0, 0, 0, 0};
  ExpectFrequencies(*be_, logits, {false, 1.0f, 3, 1.0f, 0.0f, 1.0f}, p3, 20000);
  // top_p = 0.7: ascending cumulative 0.01, 0.05, 0.13, 0.23 <= 0.3 are removed, 0.35 is kept:
  // the four most likely survive.
  std::vector<double> pp = {0.30 / 0.77, 0.20 / 0.77, 0.15 / 0.77, 0.12 / 0.77, 0, 0, 0, 0};
  ExpectFrequencies(*be_, logits, {false, 1.0f, 0, 0.7f, 0.0f, 1.0f}, pp, 20000);
  // Temperature 2: p^(1/2) renormalised.
  std::vector<double> pt(p.size());
  double z = 0.0;
  for (size_t i = 0; i < p.size(); ++i) z += pt[i] = std::sqrt(p[i]);
  for (double& q : pt) q /= z;
  ExpectFrequencies(*be_, logits, {false, 2.0f, 0, 1.0f, 0.0f, 1.0f}, pt, 20000);
}

TEST_F(SamplingOpTest, RowsWithOneSurvivorAlwaysDrawIt) {
  std::mt19937_64 rng(3);
  Batch b;
  b.vocab = 40;
  std::vector<float> logits = RandomLogits(40, rng, 1.0f, false, 0);
  logits[11] = 9.0f;  // the unique maximum
  uint64_t step = 0;
  for (int i = 0; i < 20; ++i) {
    AddRow(b, {false, 1.3f, 1, 1.0f, 0.0f, 1.0f}, logits, {}, 8, step++);     // top_k 1
    AddRow(b, {false, 0.7f, 0, 1e-6f, 0.0f, 1.0f}, logits, {}, 8, step++);    // tiny top_p
    AddRow(b, {false, 1.0f, 0, 1.0f, 1.0f, 1.0f}, logits, {}, 8, step++);     // min_p 1
    std::vector<float> one(40, -kInf);
    one[i] = 0.5f;
    AddRow(b, {false, 1.0f, 0, 0.9f, 0.0f, 1.0f}, one, {}, 8, step++);        // all -inf but i
  }
  const Result r = RunCpu(*be_, b, 4);
  for (int row = 0; row < static_cast<int>(b.rows.size()); ++row) {
    ExpectRowMatchesRuntime(b, r, row, 4);
    const int expect = row % 4 == 3 ? row / 4 : 11;
    EXPECT_EQ(r.tokens[row], expect) << "row " << row;
    EXPECT_EQ(r.logprobs[row], 0.0f);
    // The rest of the top list: -inf entries, lowest indices first.
    EXPECT_EQ(r.top_logprobs[row * 4 + 1], -kInf);
    EXPECT_EQ(r.top_tokens[row * 4 + 1], expect == 0 ? 1 : 0);
  }
}

TEST_F(SamplingOpTest, VocabularyOfOne) {
  Batch b;
  b.vocab = 1;
  AddRow(b, {true, 1.0f, 0, 1.0f, 0.0f, 1.2f}, {-2.0f}, {0, 0}, 1, 0);
  AddRow(b, {false, 0.5f, 3, 0.5f, 0.5f, 1.2f}, {3.0f}, {0}, 1, 1);
  const Result r = RunCpu(*be_, b, 3);
  for (int row = 0; row < 2; ++row) {
    EXPECT_EQ(r.tokens[row], 0);
    EXPECT_EQ(r.logprobs[row], 0.0f);
    EXPECT_EQ(r.top_tokens[row * 3], 0);
    EXPECT_EQ(r.top_logprobs[row * 3], 0.0f);
    EXPECT_EQ(r.top_tokens[row * 3 + 1], -1);
    EXPECT_EQ(r.top_logprobs[row * 3 + 2], -kInf);
  }
}

TEST_F(SamplingOpTest, NegativeInfinityIsNeverDrawnAndAllNegativeInfinityFallsBackToArgmax) {
  Batch b;
  b.vocab = 6;
  const std::vector<float> logits = {-kInf, 1.0f, -kInf, 1.0f, -kInf, 0.0f};
  for (int i = 0; i < 500; ++i)
    AddRow(b, {false, 1.0f, 0, 1.0f, 0.0f, 1.0f}, logits, {}, 4, static_cast<uint64_t>(i));
  AddRow(b, {false, 1.0f, 0, 1.0f, 0.0f, 1.0f}, std::vector<float>(6, -kInf), {}, 4, 0);
  AddRow(b, {true, 1.0f, 0, 1.0f, 0.0f, 1.0f}, std::vector<float>(6, -kInf), {}, 4, 0);
  const Result r = RunCpu(*be_, b, 0);
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 500; ++i) counts[r.tokens[i]]++;
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 100);
  EXPECT_GT(counts[3], 100);
  EXPECT_GT(counts[5], 30);
  EXPECT_EQ(r.tokens[500], 0);
  EXPECT_EQ(r.tokens[501], 0);
}

TEST_F(SamplingOpTest, OptionalOutputsMayBeNull) {
  std::mt19937_64 rng(1);
  Batch b;
  b.vocab = 100;
  AddRow(b, {false, 1.0f, 10, 1.0f, 0.0f, 1.0f}, RandomLogits(100, rng, 1.0f, false, 0), {}, 1, 1);
  std::vector<int32_t> tokens(1, -1);
  SampleParams p;
  p.logits = b.logits.data();
  p.rows = 1;
  p.vocab = 100;
  p.rows_host = b.rows.data();
  p.num_logprobs = 4;
  p.tokens_host = tokens.data();
  be_->SampleTokens(p);
  EXPECT_EQ(tokens[0], RunCpu(*be_, b, 0).tokens[0]);
}

TEST_F(SamplingOpTest, RejectsBadArguments) {
  std::vector<float> logits(10, 0.0f);
  std::vector<SampleRow> rows(1);
  std::vector<int32_t> tokens(1);
  SampleParams p;
  p.logits = logits.data();
  p.rows = 1;
  p.vocab = 10;
  p.rows_host = rows.data();
  p.tokens_host = tokens.data();
  p.num_logprobs = 33;
  EXPECT_THROW(be_->SampleTokens(p), std::invalid_argument);
  p.num_logprobs = 0;
  rows[0].history_begin = 0;
  rows[0].history_end = 3;  // no history_host
  EXPECT_THROW(be_->SampleTokens(p), std::invalid_argument);
  rows[0].history_end = 0;
  p.vocab = 0;
  EXPECT_THROW(be_->SampleTokens(p), std::invalid_argument);
}

}  // namespace
}  // namespace infer
