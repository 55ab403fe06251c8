// LayerNorm over the last dimension. Statistics accumulate in double so the float32 result
// sits within rounding of PyTorch's, whatever the width.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

void LayerNorm(const float* x, const float* gamma, const float* beta, float eps, int64_t rows,
               int64_t n, float* y) {
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * n;
    float* out = y + r * n;
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) sum += in[j];
    const double mean = sum / n;
    double sq = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double d = in[j] - mean;
      sq += d * d;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(sq / n + eps));
    const float m = static_cast<float>(mean);
    for (int64_t j = 0; j < n; ++j) {
      const float v = (in[j] - m) * inv * gamma[j];
      out[j] = beta ? v + beta[j] : v;
    }
  }
}

}  // namespace infer::kernels::cpu
