// Device helpers shared by the elementwise kernels: float32 math on F32/F16/BF16 storage, packed
// 8/16-byte loads and stores, warp/block sums, and the host-side dtype switch that picks a kernel
// template. Storage rounding is round-to-nearest-even (__float2half_rn / __float2bfloat16_rn).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/tensor.h"

namespace infer::kernels::cuda {

// ---- Scalar conversions ---------------------------------------------------------------------

__device__ __forceinline__ float ToF32(float v) { return v; }
__device__ __forceinline__ float ToF32(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToF32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromF32(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "storage type must be float, half or bf16");
    return __float2bfloat16_rn(v);
  }
}

// The float value v takes once stored as T (identity for float).
template <typename T>
__device__ __forceinline__ float RoundTo(float v) {
  return ToF32(FromF32<T>(v));
}

// ---- Packed loads and stores ----------------------------------------------------------------
// N consecutive elements of T at p, converted to/from float. N * sizeof(T) of 16 or 8 bytes
// becomes one vector access (p must then be aligned to that size); other sizes are scalar.

template <int N, typename T>
__device__ __forceinline__ void LoadF(const T* p, float (&out)[N]) {
  constexpr int kBytes = N * static_cast<int>(sizeof(T));
  if constexpr (kBytes == 16) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = ToF32(e[i]);
  } else if constexpr (kBytes == 8) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = ToF32(e[i]);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = ToF32(p[i]);
  }
}

template <int N, typename T>
__device__ __forceinline__ void StoreF(T* p, const float (&in)[N]) {
  constexpr int kBytes = N * static_cast<int>(sizeof(T));
  if constexpr (kBytes == 16) {
    uint4 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) e[i] = FromF32<T>(in[i]);
    *reinterpret_cast<uint4*>(p) = raw;
  } else if constexpr (kBytes == 8) {
    uint2 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) e[i] = FromF32<T>(in[i]);
    *reinterpret_cast<uint2*>(p) = raw;
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) p[i] = FromF32<T>(in[i]);
  }
}

// Elements of T in one 16-byte vector.
template <typename T>
inline constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

// ---- Reductions -------------------------------------------------------------------------------

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the threads of a block whose blockDim.x is a multiple of 32 (blockDim.y == 1); every
// thread gets the total. `smem` holds 32 floats; the trailing barrier lets the caller reuse it.
__device__ __forceinline__ float BlockSum(float v, float* smem) {
  v = WarpSum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < num_warps ? smem[lane] : 0.0f;
  v = WarpSum(v);
  __syncthreads();
  return v;
}

// Two sums at once (one barrier pair instead of two); `smem` holds 64 floats.
__device__ __forceinline__ void WarpSum2(float& a, float& b) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, o);
    b += __shfl_xor_sync(0xffffffffu, b, o);
  }
}

__device__ __forceinline__ void BlockSum2(float& a, float& b, float* smem) {
  WarpSum2(a, b);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  if (lane == 0) {
    smem[warp] = a;
    smem[32 + warp] = b;
  }
  __syncthreads();
  a = lane < num_warps ? smem[lane] : 0.0f;
  b = lane < num_warps ? smem[32 + lane] : 0.0f;
  WarpSum2(a, b);
  __syncthreads();
}

// ---- Host helpers ---------------------------------------------------------------------------

inline bool Aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Threads for a loop of `work` items: a multiple of 32 in [32, max_threads].
inline int ThreadsFor(int64_t work, int max_threads) {
  const int64_t t = CeilDiv(work < 1 ? 1 : work, 32) * 32;
  return static_cast<int>(t < max_threads ? t : max_threads);
}

// Grid-stride kernels never need more blocks than this on one dimension (x may go to 2^31-1; y
// and z stop at 65535).
constexpr int64_t kMaxGridX = int64_t{1} << 20;
constexpr int64_t kMaxGridY = 65535;

inline unsigned GridX(int64_t blocks) {
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks < kMaxGridX ? blocks : kMaxGridX));
}
inline unsigned GridY(int64_t blocks) {
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks < kMaxGridY ? blocks : kMaxGridY));
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) for the storage type of `dtype`; other dtypes are a caller bug.
template <typename Fn>
void DispatchFloatType(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::kF32: fn(TypeTag<float>{}); return;
    case DType::kF16: fn(TypeTag<__half>{}); return;
    case DType::kBF16: fn(TypeTag<__nv_bfloat16>{}); return;
    default:
      throw std::invalid_argument(std::string(op) + ": unsupported dtype " + DTypeName(dtype) +
                                  " (F32, F16 or BF16)");
  }
}

}  // namespace infer::kernels::cuda

// After a launch: a bad configuration (or an earlier asynchronous error) becomes an exception
// naming this file and line. Does not synchronise.
#define INFER_CUDA_CHECK_LAUNCH() INFER_CUDA_CHECK(cudaGetLastError())
