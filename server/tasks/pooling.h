// Sentence-transformers pooling of token states into one vector per input.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "server/model/pooling_config.h"

namespace infer::tasks {

// states: [tokens, dim] of one input. Returns [dim].
std::vector<float> Pool(std::span<const float> states, int64_t tokens, int64_t dim,
                        model::PoolingMode mode);
// Scales v to unit L2 norm (sentence-transformers' Normalize: divides by max(norm, 1e-12)).
void L2Normalize(std::span<float> v);
float CosineSimilarity(std::span<const float> a, std::span<const float> b);

}  // namespace infer::tasks
