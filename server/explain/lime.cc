#include "server/explain/lime.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infer::explain {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Xoshiro256::Xoshiro256(uint64_t seed) {
  // splitmix64 spreads any seed (0 included) over the state; xoshiro must not start all-zero.
  for (uint64_t& s : s_) s = SplitMix64(&seed);
}

uint64_t Xoshiro256::Next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::vector<std::vector<uint8_t>> LimeMasks(int features, int samples, uint64_t seed) {
  std::vector<std::vector<uint8_t>> masks;
  if (samples <= 0) return masks;
  const size_t nf = std::max(features, 0);
  masks.reserve(samples);
  masks.emplace_back(nf, 1);
  Xoshiro256 rng(seed);
  for (int s = 1; s < samples; ++s) {
    std::vector<uint8_t> m(nf);
    // The top bit: the generator's strongest (the low bits of xoshiro are its weakest).
    for (uint8_t& bit : m) bit = static_cast<uint8_t>(rng.Next() >> 63);
    masks.push_back(std::move(m));
  }
  return masks;
}

namespace {

// In-place Cholesky of a (n x n, row-major, symmetric positive definite), then solves
// a x = b into b. False when a pivot is not positive (a is not positive definite).
bool CholeskySolve(std::vector<double> a, size_t n, std::vector<double>* b) {
  for (size_t j = 0; j < n; ++j) {
    double diag = a[j * n + j];
    for (size_t k = 0; k < j; ++k) diag -= a[j * n + k] * a[j * n + k];
    if (!(diag > 0.0)) return false;
    const double ljj = std::sqrt(diag);
    a[j * n + j] = ljj;
    for (size_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / ljj;
    }
  }
  std::vector<double>& x = *b;
  for (size_t i = 0; i < n; ++i) {  // L y = b
    for (size_t k = 0; k < i; ++k) x[i] -= a[i * n + k] * x[k];
    x[i] /= a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L^T x = y
    for (size_t k = i + 1; k < n; ++k) x[i] -= a[k * n + i] * x[k];
    x[i] /= a[i * n + i];
  }
  return true;
}

}  // namespace

absl::StatusOr<LimeFit> FitLime(const std::vector<std::vector<uint8_t>>& masks,
                                std::span<const double> scores, double kernel_width,
                                double ridge_alpha) {
  if (masks.empty()) return absl::InvalidArgumentError("LIME fit needs at least one sample");
  if (scores.size() != masks.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("LIME fit: ", masks.size(), " masks but ", scores.size(), " scores"));
  }
  if (!(kernel_width > 0.0) || !std::isfinite(kernel_width)) {
    return absl::InvalidArgumentError("LIME kernel width must be positive");
  }
  if (!(ridge_alpha >= 0.0) || !std::isfinite(ridge_alpha)) {
    return absl::InvalidArgumentError("LIME ridge alpha must be non-negative");
  }
  const size_t nf = masks[0].size(), ns = masks.size();
  std::vector<double> w(ns);
  double wsum = 0.0;
  for (size_t s = 0; s < ns; ++s) {
    if (masks[s].size() != nf) return absl::InvalidArgumentError("LIME masks differ in length");
    if (!std::isfinite(scores[s])) return absl::InvalidArgumentError("LIME score is not finite");
    size_t kept = 0;
    for (uint8_t m : masks[s]) kept += m != 0;
    const double dist = kept == 0 ? 1.0 : 1.0 - std::sqrt(static_cast<double>(kept) / nf);
    w[s] = std::exp(-(dist * dist) / (kernel_width * kernel_width));
    wsum += w[s];
  }
  if (!(wsum > 0.0)) return absl::InvalidArgumentError("LIME kernel weights are all zero");

  // Weighted means: centring by them removes the intercept from the penalised system.
  std::vector<double> xbar(nf, 0.0);
  double ybar = 0.0;
  for (size_t s = 0; s < ns; ++s) {
    for (size_t f = 0; f < nf; ++f) xbar[f] += w[s] * (masks[s][f] != 0);
    ybar += w[s] * scores[s];
  }
  for (double& x : xbar) x /= wsum;
  ybar /= wsum;

  std::vector<double> a(nf * nf, 0.0), b(nf, 0.0), xc(nf);
  for (size_t s = 0; s < ns; ++s) {
    for (size_t f = 0; f < nf; ++f) xc[f] = (masks[s][f] != 0) - xbar[f];
    const double yc = scores[s] - ybar;
    for (size_t f = 0; f < nf; ++f) {
      const double wx = w[s] * xc[f];
      b[f] += wx * yc;
      for (size_t g = 0; g <= f; ++g) a[f * nf + g] += wx * xc[g];
    }
  }
  double mean_diag = 0.0;
  for (size_t f = 0; f < nf; ++f) {
    for (size_t g = 0; g < f; ++g) a[g * nf + f] = a[f * nf + g];
    a[f * nf + f] += ridge_alpha;
    mean_diag += a[f * nf + f];
  }
  mean_diag = nf > 0 ? mean_diag / nf : 0.0;

  LimeFit fit;
  fit.coef = b;
  bool solved = CholeskySolve(a, nf, &fit.coef);
  // Singular: jitter, growing until it is positive definite (a constant feature column with
  // alpha 0 makes a zero row; no jitter at all when the diagonal is zero everywhere).
  for (double jitter = 1e-9 * std::max(mean_diag, 1e-300); !solved && jitter < 1e300; jitter *= 1e3) {
    std::vector<double> aj = a;
    for (size_t f = 0; f < nf; ++f) aj[f * nf + f] += jitter;
    fit.coef = b;
    solved = CholeskySolve(std::move(aj), nf, &fit.coef);
  }
  if (!solved) return absl::InternalError("LIME ridge system could not be solved");

  fit.intercept = ybar;
  for (size_t f = 0; f < nf; ++f) fit.intercept -= fit.coef[f] * xbar[f];
  double ss_res = 0.0, ss_tot = 0.0;
  for (size_t s = 0; s < ns; ++s) {
    double pred = fit.intercept;
    for (size_t f = 0; f < nf; ++f) pred += fit.coef[f] * (masks[s][f] != 0);
    ss_res += w[s] * (scores[s] - pred) * (scores[s] - pred);
    ss_tot += w[s] * (scores[s] - ybar) * (scores[s] - ybar);
  }
  fit.r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : (ss_res == 0.0 ? 1.0 : 0.0);
  return fit;
}

}  // namespace infer::explain
