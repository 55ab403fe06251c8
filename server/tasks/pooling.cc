#include "server/tasks/pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infer::tasks {

std::vector<float> Pool(std::span<const float> states, int64_t tokens, int64_t dim,
                        model::PoolingMode mode) {
  using model::PoolingMode;
  std::vector<float> out(dim, 0.0f);
  if (tokens == 0) return out;
  switch (mode) {
    case PoolingMode::kCls:
      std::copy(states.begin(), states.begin() + dim, out.begin());
      break;
    case PoolingMode::kLastToken:
      std::copy(states.begin() + (tokens - 1) * dim, states.begin() + tokens * dim, out.begin());
      break;
    case PoolingMode::kMax:
      std::fill(out.begin(), out.end(), -std::numeric_limits<float>::infinity());
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 0; j < dim; ++j) out[j] = std::max(out[j], states[t * dim + j]);
      break;
    case PoolingMode::kMean:
    case PoolingMode::kMeanSqrtLen:
    case PoolingMode::kWeightedMean: {
      // Sums in float32 in token order, as PyTorch's masked sum does on the CPU.
      double weight_sum = 0.0;
      for (int64_t t = 0; t < tokens; ++t) {
        const float w = mode == PoolingMode::kWeightedMean ? static_cast<float>(t + 1) : 1.0f;
        weight_sum += w;
        for (int64_t j = 0; j < dim; ++j) out[j] += w * states[t * dim + j];
      }
      const float div = mode == PoolingMode::kMeanSqrtLen
                            ? std::sqrt(static_cast<float>(tokens))
                            : static_cast<float>(weight_sum);
      for (float& v : out) v /= div;
      break;
    }
  }
  return out;
}

void L2Normalize(std::span<float> v) {
  double sq = 0.0;
  for (float x : v) sq += static_cast<double>(x) * x;
  const float norm = std::max(static_cast<float>(std::sqrt(sq)), 1e-12f);
  for (float& x : v) x /= norm;
}

float CosineSimilarity(std::span<const float> a, std::span<const float> b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  const double denom = std::max(std::sqrt(na) * std::sqrt(nb), 1e-12);
  return static_cast<float>(dot / denom);
}

}  // namespace infer::tasks
