// Launchers of the CUDA backend's elementwise, normalisation, gather and conversion kernels.
// Every pointer is device memory; `dtype` is the storage type (F32, F16 or BF16) of the
// activations and of the weights passed with them (gamma, beta, bias); arithmetic is float32.
// Launches are asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/backend.h"

namespace infer::kernels::cuda {

// y = (x - mean) / sqrt(var + eps) * gamma + beta per row of n; beta may be null; y may alias x.
void LayerNorm(const void* x, const void* gamma, const void* beta, float eps, int64_t rows,
               int64_t n, void* y, DType dtype, cudaStream_t stream);
// x += h, then y = LayerNorm(x) (x keeps the sum). y may alias h.
void AddLayerNorm(void* x, const void* h, const void* gamma, const void* beta, float eps,
                  int64_t rows, int64_t n, void* y, DType dtype, cudaStream_t stream);
// y = x / sqrt(mean(x^2) + eps) * gamma; y may alias x.
void RmsNorm(const void* x, const void* gamma, float eps, int64_t rows, int64_t n, void* y,
             DType dtype, cudaStream_t stream);
// x += h, then y = RmsNorm(x). y may alias h.
void AddRmsNorm(void* x, const void* h, const void* gamma, float eps, int64_t rows, int64_t n,
                void* y, DType dtype, cudaStream_t stream);
// y[rows, n] = act(y + bias) in place; bias ([n], bias_dtype) may be null. y may be F32 while
// bias is 16-bit (a float32 logits head with a bias).
void BiasActivate(void* y, DType y_dtype, int64_t rows, int64_t n, const void* bias,
                  DType bias_dtype, Activation act, cudaStream_t stream);
// y[r, :n] = act(x[r, :n]) * x[r, n:2n].
void GatedActivate(const void* x, int64_t rows, int64_t n, Activation act, void* y, DType dtype,
                   cudaStream_t stream);
// x[i] += y[i] for i < n.
void Add(void* x, const void* y, int64_t n, DType dtype, cudaStream_t stream);
// out[i, :] = table[ids[i], :] (or +=, accumulate) for i < n; rows of d elements.
void Embedding(const void* table, const int32_t* ids, int64_t n, int64_t d, bool accumulate,
               void* out, DType dtype, cudaStream_t stream);
// out[i, :] = x[rows[i], :] for i < n.
void GatherRows(const void* x, const int32_t* rows, int64_t n, int64_t d, void* out, DType dtype,
                cudaStream_t stream);
// dst[i] = (dst_dtype) src[i], rounding to nearest even; any pair of F32, F16, BF16.
void Convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n,
             cudaStream_t stream);
// Rotary embeddings in place (RotaryParams: device pointers).
void Rotary(const RotaryParams& p, cudaStream_t stream);

}  // namespace infer::kernels::cuda
