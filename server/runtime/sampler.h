// Seeded token sampling and per-token log-probabilities.
//
// The generator is std::mt19937_64: the same seed gives the same draws on every platform (the
// C++ standard fixes its output), so a request with a seed is reproducible; without one the seed
// comes from std::random_device and is reported back. Draws do not reproduce torch.multinomial's.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "server/runtime/score_math.h"

namespace infer::runtime {

class Sampler {
 public:
  explicit Sampler(std::optional<uint64_t> seed);
  uint64_t seed() const { return seed_; }

  // A uniform double in [0, 1) from the top 53 bits of one draw.
  double Uniform();
  // One token from softmax(scores); tokens at -inf are never drawn.
  int32_t Sample(std::span<const float> scores);
  // n distinct tokens from softmax(scores), in draw order, without replacement (what
  // torch.multinomial(probs, n, replacement=False) computes): each draw renormalises over the
  // tokens not yet drawn. Fewer than n come back when fewer have nonzero probability.
  std::vector<int32_t> SampleWithoutReplacement(std::span<const float> scores, int n);

 private:
  // Index drawn from unnormalised nonnegative weights, skipping taken ones; -1 if all are zero.
  int32_t Draw(std::span<const float> weights, const std::vector<char>* taken);

  uint64_t seed_;
  std::mt19937_64 rng_;
};

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

// What the decoders report for a chosen token: log_softmax(scores)[token] and the top_n tokens
// of log_softmax(scores), best first. `scores` are the processed scores the token was chosen
// from: transformers' `compute_transition_scores(sequences, scores, normalize_logits=True)`.
struct ChosenLogprobs {
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
};
ChosenLogprobs ComputeLogprobs(std::span<const float> scores, int32_t token, int top_n);

}  // namespace infer::runtime
