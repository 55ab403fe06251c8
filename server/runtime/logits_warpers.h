// The sampling warpers of transformers 4.46 (TemperatureLogitsWarper, TopKLogitsWarper,
// TopPLogitsWarper, MinPLogitsWarper): they reshape the distribution a sampler draws from by
// dividing the scores or setting removed tokens to -inf. Only sampling strategies use them.
#pragma once

#include "server/runtime/logits_processors.h"

namespace infer::runtime {

// scores / temperature (temperature > 0).
class TemperatureWarper final : public LogitsProcessor {
 public:
  explicit TemperatureWarper(float temperature) : temperature_(temperature) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  float temperature_;
};

// Keeps every token whose score is >= the k-th largest score (ties at the boundary survive, as
// in transformers), k = max(top_k, min_tokens_to_keep) clipped to the vocabulary.
class TopKWarper final : public LogitsProcessor {
 public:
  TopKWarper(int top_k, int min_tokens_to_keep = 1);
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  int k_;
};

// Sorts ascending, takes the cumulative softmax, removes tokens whose cumulative probability is
// <= 1 - top_p (so the kept set is the smallest high-probability set whose mass reaches top_p),
// always keeping the min_tokens_to_keep most likely.
class TopPWarper final : public LogitsProcessor {
 public:
  TopPWarper(double top_p, int min_tokens_to_keep = 1) : top_p_(top_p), min_keep_(min_tokens_to_keep) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  double top_p_;
  int min_keep_;
};

// Removes tokens with probability < min_p * (probability of the most likely token), always
// keeping the min_tokens_to_keep most likely.
class MinPWarper final : public LogitsProcessor {
 public:
  MinPWarper(double min_p, int min_tokens_to_keep = 1) : min_p_(min_p), min_keep_(min_tokens_to_keep) {}
  void Apply(std::span<const int32_t> input_ids, std::span<float> scores) const override;

 private:
  double min_p_;
  int min_keep_;
};

}  // namespace infer::runtime
