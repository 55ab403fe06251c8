// Activations with the exact formulas Hugging Face uses, evaluated in float32 like PyTorch.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

float ActivateScalar(float x, Activation act) {
  switch (act) {
    case Activation::kNone: return x;
    case Activation::kGeluTanh: {
      // NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
      constexpr float kSqrt2OverPi = 0.7978845608028654f;
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    }
    case Activation::kGeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
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
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
    }
    if (act != Activation::kNone) {
      for (int64_t j = 0; j < n; ++j) row[j] = ActivateScalar(row[j], act);
    }
  }
}

}  // namespace infer::kernels::cpu
