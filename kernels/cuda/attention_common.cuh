// Pieces shared by the CUDA attention kernels (attention_*.cu, kv_write.cu): element types,
// 16-byte vector unpacking, addressing of key/value rows (paged cache or contiguous), warp
// reductions, the launch-error check and the launchers' internal interface. Device code; included
// only by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/attention_device.cuh"
#include "kernels/cuda/attention_plan.h"

namespace infer::kernels::cuda::attn {

// ---------------------------------------------------------------------------------------------
// Errors: a failed launch is a bug (bad grid, missing kernel image for this GPU), thrown with the
// kernel's name so the test output says which one.
inline void CheckLaunch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA attention: ") + what + ": " +
                             cudaGetErrorString(e));
  }
}

// Multiprocessors of the current device, asked once per device.
int SmCount();

// ---------------------------------------------------------------------------------------------
// Element types.
template <typename T>
__device__ __forceinline__ float ToFloat(T x);
template <>
__device__ __forceinline__ float ToFloat<float>(float x) { return x; }
template <>
__device__ __forceinline__ float ToFloat<__half>(__half x) { return __half2float(x); }
template <>
__device__ __forceinline__ float ToFloat<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T FromFloat(float x);
template <>
__device__ __forceinline__ float FromFloat<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half FromFloat<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// Two floats from one 32-bit word holding two 16-bit values (low half first), or the pair
// packed back, rounding to nearest even.
template <typename T>
__device__ __forceinline__ float2 Unpack2(uint32_t u);
template <>
__device__ __forceinline__ float2 Unpack2<__half>(uint32_t u) {
  __half2 h;
  memcpy(&h, &u, 4);
  return __half22float2(h);
}
template <>
__device__ __forceinline__ float2 Unpack2<__nv_bfloat16>(uint32_t u) {
  __nv_bfloat162 h;
  memcpy(&h, &u, 4);
  return __bfloat1622float2(h);
}
template <typename T>
__device__ __forceinline__ uint32_t Pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t Pack2<__half>(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &h, 4);
  return u;
}
template <>
__device__ __forceinline__ uint32_t Pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &h, 4);
  return u;
}

// A 16-byte vector (uint4) holds kVecElems<T> elements: 8 halves/bfloat16s or 4 floats.
template <typename T>
inline constexpr int kVecElems = 16 / static_cast<int>(sizeof(T));

// f[0..kVecElems<T>) = the elements of v, in memory order.
template <typename T>
__device__ __forceinline__ void VecToFloats(const uint4& v, float* f) {
  if constexpr (sizeof(T) == 4) {
    f[0] = __uint_as_float(v.x);
    f[1] = __uint_as_float(v.y);
    f[2] = __uint_as_float(v.z);
    f[3] = __uint_as_float(v.w);
  } else {
    const float2 a = Unpack2<T>(v.x), b = Unpack2<T>(v.y), c = Unpack2<T>(v.z),
                 d = Unpack2<T>(v.w);
    f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y;
    f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
  }
}

__device__ __forceinline__ uint4 LoadVec(const void* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

// ---------------------------------------------------------------------------------------------
// Key/value rows. Element offset of the row holding position `pos` of sequence `s` for kv head
// `kh`, in k/v (contiguous, packed like q: row = seq_start + pos) or in k_cache/v_cache (paged:
// block_tables[s][pos / block_size] is the physical block).
struct KvLayout {
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]; null: contiguous
  int max_blocks_per_seq = 0;
  int block_size = 0;
  int num_kv_heads = 0;
  int head_dim = 0;

  // Row index ("slot") in units of [num_kv_heads, head_dim] rows.
  __device__ __forceinline__ int64_t Slot(int s, int seq_start, int pos) const {
    if (block_tables != nullptr) {
      const int block =
          __ldg(block_tables + static_cast<int64_t>(s) * max_blocks_per_seq + pos / block_size);
      return static_cast<int64_t>(block) * block_size + pos % block_size;
    }
    return static_cast<int64_t>(seq_start) + pos;
  }
  __device__ __forceinline__ int64_t Offset(int64_t slot, int kh) const {
    return (slot * num_kv_heads + kh) * head_dim;
  }
};

// The arguments every launcher takes from AttentionParams alike: q, out, the K/V source (the
// paged cache when there are block tables, else contiguous k/v) and its layout, the sequence
// arrays and the head counts. Args is the launcher's own argument struct.
template <typename Args>
void SetSharedArgs(const AttentionParams& p, Args& a) {
  const bool paged = p.block_tables != nullptr;
  a.q = p.q;
  a.out = p.out;
  a.k = paged ? p.k_cache : p.k;
  a.v = paged ? p.v_cache : p.v;
  a.kv.block_tables = p.block_tables;
  a.kv.max_blocks_per_seq = p.max_blocks_per_seq;
  a.kv.block_size = p.block_size;
  a.kv.num_kv_heads = p.num_kv_heads;
  a.kv.head_dim = p.head_dim;
  a.cu_seqlens_q = p.cu_seqlens_q;
  a.context_lens = p.context_lens;
  a.num_heads = p.num_heads;
  a.group = p.num_heads / p.num_kv_heads;
}

// ---------------------------------------------------------------------------------------------
// Warp reductions over all 32 lanes.
__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sequence of packed query row `row`: the largest s in [0, num_seqs) with cu[s] <= row (empty
// sequences before it share its start, so the largest one is the non-empty owner).
__device__ __forceinline__ int SeqOfRow(const int32_t* cu_seqlens_q, int num_seqs, int row) {
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (__ldg(cu_seqlens_q + mid) <= row) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Launchers (one per path), called by Attention() in attention_dispatch.cu with the plan.
void LaunchReference(const AttentionParams& p, int total_q, cudaStream_t stream);
// Decode: sequences with exactly one query row; others are left to another launch.
void LaunchDecode(const AttentionParams& p, const AttentionPlan& plan, void* workspace,
                  cudaStream_t stream);
// Prefill on tensor cores; skip_single_rows leaves q_len == 1 sequences to the decode kernel.
void LaunchPrefill(const AttentionParams& p, const AttentionPlan& plan, bool skip_single_rows,
                   cudaStream_t stream);

// Decode kernel constants the planner needs.
inline constexpr int kDecodeThreads = 128;
inline constexpr int kDecodeChunk = 256;     // keys scored per shared-memory pass
inline constexpr int kDecodeMaxSplits = 128;
// Prefill tile sizes.
inline constexpr int kPrefillBlockM = 64;
inline constexpr int kPrefillBlockN = 64;

}  // namespace infer::kernels::cuda::attn
