// RMSNorm (Llama): y = x / sqrt(mean(x^2) + eps) * gamma, the mean accumulated in double like
// LayerNorm so the float32 result is within rounding of PyTorch's.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

void RmsNorm(const float* x, const float* gamma, float eps, int64_t rows, int64_t n, float* y) {
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * n;
    float* out = y + r * n;
    double sq = 0.0;
    for (int64_t j = 0; j < n; ++j) sq += static_cast<double>(in[j]) * in[j];
    const float inv = static_cast<float>(1.0 / std::sqrt(sq / n + eps));
    for (int64_t j = 0; j < n; ++j) out[j] = in[j] * inv * gamma[j];
  }
}

}  // namespace infer::kernels::cpu
