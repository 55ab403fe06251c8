#include "server/runtime/sampler.h"

#include <cmath>

namespace infer::runtime {
namespace {

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
}

}  // namespace

Sampler::Sampler(std::optional<uint64_t> seed) : seed_(seed ? *seed : RandomSeed()), rng_(seed_) {}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Draw(std::span<const float> weights, const std::vector<char>* taken) {
  double total = 0.0;
  int32_t last = -1;
  for (size_t i = 0; i < weights.size(); ++i) {
    if ((taken && (*taken)[i]) || !(weights[i] > 0.0f)) continue;
    total += weights[i];
    last = static_cast<int32_t>(i);
  }
  if (last < 0) return -1;
  const double target = Uniform() * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if ((taken && (*taken)[i]) || !(weights[i] > 0.0f)) continue;
    cumulative += weights[i];
    if (target < cumulative) return static_cast<int32_t>(i);
  }
  return last;  // rounding left target at the very top
}

int32_t Sampler::Sample(std::span<const float> scores) {
  std::vector<float> probs(scores.size());
  Softmax(scores, probs);
  const int32_t token = Draw(probs, nullptr);
  return token >= 0 ? token : Argmax(scores);  // all-NaN rows: fall back to something in range
}

std::vector<int32_t> Sampler::SampleWithoutReplacement(std::span<const float> scores, int n) {
  std::vector<float> probs(scores.size());
  Softmax(scores, probs);
  std::vector<char> taken(scores.size(), 0);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t token = Draw(probs, &taken);
    if (token < 0) break;
    taken[token] = 1;
    out.push_back(token);
  }
  return out;
}

ChosenLogprobs ComputeLogprobs(std::span<const float> scores, int32_t token, int top_n) {
  std::vector<float> logp(scores.size());
  LogSoftmax(scores, logp);
  ChosenLogprobs out;
  out.logprob = logp[token];
  for (const ScoredToken& t : TopN(logp, top_n)) out.top.push_back({t.token, t.score});
  return out;
}

}  // namespace infer::runtime
