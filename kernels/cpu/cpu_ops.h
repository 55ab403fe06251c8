// Plain-function CPU kernels behind the CPU backend; also usable directly by reference tests.
#pragma once

#include <cstdint>

#include "kernels/backend.h"

namespace infer::kernels::cpu {

// y[rows, n] = act(y + bias) in place; bias may be null.
void BiasActivate(float* y, int64_t rows, int64_t n, const float* bias, Activation act);
float ActivateScalar(float x, Activation act);
// y = (x - mean) / sqrt(var + eps) * gamma + beta per row; beta may be null; y may alias x.
void LayerNorm(const float* x, const float* gamma, const float* beta, float eps, int64_t rows,
               int64_t n, float* y);
void Attention(const AttentionParams& p);
void WriteKv(const KvWriteParams& p);

}  // namespace infer::kernels::cpu
