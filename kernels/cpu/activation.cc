// Activations with the formulas Hugging Face uses, evaluated in float32. The GELUs run on every
// element of the widest activations in the model, so they use branch-free, vectorisable exp and
// erf approximations (relative error ~1e-7, far inside the 1e-4 fidelity budget) instead of a
// libm call per element, which was a fifth of a prefill forward (benchmarks/RESULTS.md).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

// exp(x) by range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-6 polynomial.
inline float VecExp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return e * std::bit_cast<float>(bits);
}

inline float VecTanh(float x) { return 1.0f - 2.0f / (VecExp(2.0f * x) + 1.0f); }

// erf(x) for x >= 0 by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7); odd extension.
inline float VecErf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * VecExp(-a * a);
  return std::copysign(y, x);
}

inline float GeluTanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + VecTanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}
inline float GeluErf(float x) { return 0.5f * x * (1.0f + VecErf(x * 0.7071067811865476f)); }

}  // namespace

float ActivateScalar(float x, Activation act) {
  switch (act) {
    case Activation::kNone: return x;
    case Activation::kGeluTanh: return GeluTanh(x);  // NewGELUActivation ("gelu_new")
    case Activation::kGeluErf: return GeluErf(x);    // nn.GELU / "gelu"
    case Activation::kRelu: return x > 0.0f ? x : 0.0f;
    case Activation::kSilu: return x / (1.0f + std::exp(-x));
    case Activation::kTanh: return std::tanh(x);
  }
  return x;
}

void BiasActivate(float* y, int64_t rows, int64_t n, const float* bias, Activation act) {
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * n;
    if (bias != nullptr) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
    }
    switch (act) {
      case Activation::kNone: break;
      case Activation::kGeluTanh:
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) row[j] = GeluTanh(row[j]);
        break;
      case Activation::kGeluErf:
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) row[j] = GeluErf(row[j]);
        break;
      default:
        for (int64_t j = 0; j < n; ++j) row[j] = ActivateScalar(row[j], act);
    }
  }
}

void GatedActivate(const float* x, int64_t rows, int64_t n, Activation act, float* y) {
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = x + r * 2 * n;
    const float* up = gate + n;
    float* out = y + r * n;
    for (int64_t j = 0; j < n; ++j) out[j] = ActivateScalar(gate[j], act) * up[j];
  }
}

}  // namespace infer::kernels::cpu
