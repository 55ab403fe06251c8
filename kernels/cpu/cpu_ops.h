// Plain-function CPU kernels behind the CPU backend; also usable directly by reference tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"

namespace infer::kernels::cpu {

// y[rows, n] = act(y + bias) in place; bias may be null.
void BiasActivate(float* y, int64_t rows, int64_t n, const float* bias, Activation act);
float ActivateScalar(float x, Activation act);
// y = (x - mean) / sqrt(var + eps) * gamma + beta per row; beta may be null; y may alias x.
void LayerNorm(const float* x, const float* gamma, const float* beta, float eps, int64_t rows,
               int64_t n, float* y);
// y = x / sqrt(mean(x^2) + eps) * gamma per row; y may alias x.
void RmsNorm(const float* x, const float* gamma, float eps, int64_t rows, int64_t n, float* y);
// y[r, :n] = act(x[r, :n]) * x[r, n:2n] for x [rows, 2n].
void GatedActivate(const float* x, int64_t rows, int64_t n, Activation act, float* y);
void Rotary(const RotaryParams& p);
void Attention(const AttentionParams& p);
// y[m, n] = x[m, k] * w[n, k]^T without packing: for the few rows of batched decode steps
// (up to SkinnyGemmMaxRows(k) of kernels/cpu/skinny_gemm.h: kSkinnyGemmMaxRows for the AVX2
// kernel, more for the AVX-512 one), where SGEMM's packing of w costs more than the arithmetic.
void SkinnyGemm(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y);
constexpr int64_t kSkinnyGemmMaxRows = 64;  // the AVX2 kernel's limit
void WriteKv(const KvWriteParams& p);
// memset(p, 0, bytes) split over a few threads when large (kernels/cpu/zero_fill.cc): how
// Zeros faults a large buffer's pages in at a few GB/s instead of one thread's fault rate.
void ZeroFill(void* p, size_t bytes);
// The reference of Backend::SampleTokens (kernels/cpu/sampling.cc).
void SampleTokens(const SampleParams& p);

}  // namespace infer::kernels::cpu
