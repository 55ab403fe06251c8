// Small float32 helpers over one row of next-token scores: softmax, log-softmax, argmax and the
// N best entries, with torch's conventions (first index wins ties; -inf entries get probability 0).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace infer::runtime {

// out[i] = exp(x[i] - max) / sum_j exp(x[j] - max); the sum is accumulated in double.
void Softmax(std::span<const float> x, std::span<float> out);
// out[i] = x[i] - max - log(sum_j exp(x[j] - max)).
void LogSoftmax(std::span<const float> x, std::span<float> out);
// Index of the largest value, the first one on ties (torch.argmax).
int32_t Argmax(std::span<const float> x);

struct ScoredToken {
  int32_t token = -1;
  float score = 0.0f;
};
// The n largest entries, largest first, lower index first on ties.
std::vector<ScoredToken> TopN(std::span<const float> x, int n);

}  // namespace infer::runtime
