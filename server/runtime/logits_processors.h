// Logits processors with the math and order of transformers 4.46 (`generation/logits_process.py`,
// `GenerationMixin._get_logits_processor`): each rewrites one row of next-token scores in place,
// given the row's token history (prompt + generated so far).
//
// Order of a pipeline: repetition penalty, no-repeat n-gram, bad words, min length, min new tokens,
// then, only when sampling, the warpers of logits_warpers.h: temperature, top-k, top-p, min-p.
// Scores are float32 and every operation is done in float32 as torch does on the CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "server/runtime/generation_options.h"

namespace infer::runtime {

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  // input_ids: the row's tokens so far, prompt included. scores: [vocab], rewritten in place.
  virtual void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const = 0;
};

// Every token present in input_ids: score < 0 -> score * penalty, else score / penalty.
class RepetitionPenaltyProcessor final : public LogitsProcessor {
 public:
  explicit RepetitionPenaltyProcessor(float penalty) : penalty_(penalty) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  float penalty_;
};

// Bans (-inf) every token that would complete an n-gram already present in input_ids.
class NoRepeatNGramProcessor final : public LogitsProcessor {
 public:
  explicit NoRepeatNGramProcessor(int ngram_size) : n_(ngram_size) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  int n_;
};

// transformers' NoBadWordsLogitsProcessor: a one-token word is always banned; a word of L > 1
// tokens bans its last token when the last L-1 tokens of input_ids equal its first L-1 tokens and
// input_ids holds at least L tokens. Words equal to a single eos id are dropped. Bans add -inf.
class NoBadWordsProcessor final : public LogitsProcessor {
 public:
  NoBadWordsProcessor(std::vector<std::vector<int32_t>> bad_words_ids,
                      std::span<const int32_t> eos_token_ids);
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  std::vector<int32_t> single_;                 // one-token words
  std::vector<std::vector<int32_t>> multi_;     // longer words
};

// eos ids -> -inf while input_ids.size() < min_length (prompt included).
class MinLengthProcessor final : public LogitsProcessor {
 public:
  MinLengthProcessor(int min_length, std::vector<int32_t> eos_token_ids)
      : min_length_(min_length), eos_(std::move(eos_token_ids)) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  int min_length_;
  std::vector<int32_t> eos_;
};

// eos ids -> -inf while input_ids.size() - prompt_len < min_new_tokens.
class MinNewTokensProcessor final : public LogitsProcessor {
 public:
  MinNewTokensProcessor(int prompt_len, int min_new_tokens, std::vector<int32_t> eos_token_ids)
      : prompt_len_(prompt_len), min_new_tokens_(min_new_tokens), eos_(std::move(eos_token_ids)) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  int prompt_len_;
  int min_new_tokens_;
  std::vector<int32_t> eos_;
};

// An ordered list of processors, applied one after another.
class LogitsPipeline {
 public:
  void Add(std::unique_ptr<LogitsProcessor> p) { processors_.push_back(std::move(p)); }
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const {
    for (const auto& p : processors_) p->Apply(input_ids, scores);
  }
  bool empty() const { return processors_.empty(); }
  size_t size() const { return processors_.size(); }

 private:
  std::vector<std::unique_ptr<LogitsProcessor>> processors_;
};

// The pipeline transformers would build for these options and this strategy: processors that are
// no-ops (penalty 1, top_k 0, ...) are left out as transformers leaves them out; warpers only for
// kSample / kBeamSample, where beam sampling keeps at least (number of eos ids + 1) tokens.
LogitsPipeline BuildLogitsPipeline(const GenerationOptions& options, DecodingMode mode,
                                   int prompt_len);

}  // namespace infer::runtime
