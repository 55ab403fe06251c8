// LIME (Ribeiro et al. 2016) for token attributions: score randomly masked copies of the input,
// then fit a locally weighted linear model of the score on which features were kept.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::explain {

// xoshiro256** (Blackman & Vigna) seeded through splitmix64: fixed integer arithmetic, so the
// same seed gives the same masks on every platform and standard library (std:: distributions
// are implementation-defined).
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed);
  uint64_t Next();

 private:
  uint64_t s_[4];
};

// splitmix64 step: advances *state and returns the next output.
uint64_t SplitMix64(uint64_t* state);

// masks[s][f] = 1 when feature f is kept in sample s. Sample 0 keeps everything (the input as
// it is); in the others each feature is kept with probability 1/2, independently: feature f of
// sample s >= 1 is the top bit of the generator's next output, samples in order, features in
// order. samples <= 0 gives none.
std::vector<std::vector<uint8_t>> LimeMasks(int features, int samples, uint64_t seed);

struct LimeFit {
  std::vector<double> coef;  // per feature: the score's change when the feature is kept
  double intercept = 0;
  double r2 = 0;  // weighted coefficient of determination of the fit
};

// Weighted ridge regression of scores on masks. Sample weight exp(-dist^2 / width^2), dist the
// cosine distance between the mask and the all-ones mask, 1 - sqrt(kept / features) (1 for an
// empty mask). The intercept is not penalised: X and y are centred by their weighted means and
// (Xc^T W Xc + alpha I) beta = Xc^T W yc is solved by Cholesky in double. When that matrix is
// singular (alpha 0 with too few distinct masks) a small ridge is added, from 1e-9 of its mean
// diagonal up, giving a near minimum-norm solution instead of an error. r2 is 1 when the fit is exact,
// 0 when scores do not vary but the fit misses them.
// InvalidArgument: no samples, masks of unequal length, scores of another count, non-finite
// scores, width <= 0, alpha < 0, or all weights underflowing to 0.
absl::StatusOr<LimeFit> FitLime(const std::vector<std::vector<uint8_t>>& masks,
                                std::span<const double> scores, double kernel_width,
                                double ridge_alpha);

}  // namespace infer::explain
