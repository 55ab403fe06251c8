#include "server/explain/rollout.h"

#include <cblas.h>

#include <cassert>

namespace infer::explain {

RolloutAccumulator::RolloutAccumulator(int tokens) : tokens_(tokens) {}

void RolloutAccumulator::AddLayer(std::span<const float> probs, int heads) {
  const size_t t = static_cast<size_t>(tokens_);
  assert(heads > 0 && probs.size() == static_cast<size_t>(heads) * t * t);
  if (t == 0) {  // nothing to roll out; BLAS would reject the zero leading dimension
    ++layers_;
    return;
  }
  // Ahat = normalize_rows(0.5 mean_h(A) + 0.5 I), in double.
  std::vector<double> ahat(t * t, 0.0);
  for (int h = 0; h < heads; ++h) {
    const float* a = probs.data() + static_cast<size_t>(h) * t * t;
    for (size_t i = 0; i < t * t; ++i) ahat[i] += a[i];
  }
  const double scale = 0.5 / heads;
  for (size_t i = 0; i < t; ++i) {
    double* row = ahat.data() + i * t;
    double sum = 0.0;
    for (size_t j = 0; j < t; ++j) {
      row[j] *= scale;
      if (j == i) row[j] += 0.5;
      sum += row[j];
    }
    // sum >= 0.5 always (the identity share), so this never divides by zero; it restores row
    // sums of exactly 1 where a row of probabilities did not sum to 1 (rounding, padding rows).
    for (size_t j = 0; j < t; ++j) row[j] /= sum;
  }
  if (layers_ == 0) {
    rollout_ = std::move(ahat);
  } else {
    std::vector<double> next(t * t);
    const int n = tokens_;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, ahat.data(), n,
                rollout_.data(), n, 0.0, next.data(), n);
    rollout_ = std::move(next);
  }
  ++layers_;
  current_.assign(rollout_.begin(), rollout_.end());
}

}  // namespace infer::explain
