// Rotary position embeddings in place. Angles are computed in double from the position and
// inv_freq = base^(-2i/rotary_dim), then rounded once, so long positions keep their precision.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

void RotateHead(float* x, int rotary_dim, bool interleaved, const float* cos_t,
                const float* sin_t) {
  const int half = rotary_dim / 2;
  for (int i = 0; i < half; ++i) {
    const int a = interleaved ? 2 * i : i;
    const int b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * cos_t[i] - x1 * sin_t[i];
    x[b] = x1 * cos_t[i] + x0 * sin_t[i];
  }
}

}  // namespace

void Rotary(const RotaryParams& p) {
  const int half = p.rotary_dim / 2;
  float* q = static_cast<float*>(p.q);
  float* k = static_cast<float*>(p.k);
#pragma omp parallel for schedule(static) if (p.num_tokens > 16)
  for (int t = 0; t < p.num_tokens; ++t) {
    std::vector<float> c(half), s(half);
    for (int i = 0; i < half; ++i) {
      const double inv_freq = std::pow(static_cast<double>(p.base), -2.0 * i / p.rotary_dim);
      const double angle = static_cast<double>(p.positions[t]) * inv_freq;
      c[i] = static_cast<float>(std::cos(angle));
      s[i] = static_cast<float>(std::sin(angle));
    }
    for (int h = 0; h < p.num_heads; ++h) {
      RotateHead(q + (static_cast<int64_t>(t) * p.num_heads + h) * p.head_dim, p.rotary_dim,
                 p.interleaved, c.data(), s.data());
    }
    for (int h = 0; h < p.num_kv_heads; ++h) {
      RotateHead(k + (static_cast<int64_t>(t) * p.num_kv_heads + h) * p.head_dim, p.rotary_dim,
                 p.interleaved, c.data(), s.data());
    }
  }
}

}  // namespace infer::kernels::cpu
