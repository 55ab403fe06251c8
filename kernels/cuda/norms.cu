// LayerNorm and RMSNorm over the last dimension, optionally fused with the residual add before
// them (x += h; y = Norm(x)), float32 statistics on any storage type.
//
// Three kernels, picked per call by the launcher:
//   - warp per row (n <= 1024): a warp owns a row, 32 elements per lane held in registers,
//     several rows per block; the decode-sized case.
//   - block per row (1024 < n <= 4 * 1024 * 16 bytes / elem): the row stays in registers, four
//     16-byte vectors per thread, blockDim sized to the row (a multiple of 32, at most 1024).
//   - generic (any n, any alignment): a block per row re-reading the row from global memory,
//     scalar accesses. Odd widths and unaligned views take this path.
// The first two need n * sizeof(T) % 16 == 0 and 16-byte aligned pointers (16-byte loads).
//
// LayerNorm is two-pass (mean, then the sums of the deviations and of their squares: the
// corrected two-pass algorithm), so a large mean neither cancels the variance nor shifts the
// output by its own rounding error; CPU reference: kernels/cpu/layer_norm.cc,
// rms_norm.cc. In the fused variants the sum is rounded to the storage type, stored into x, and
// the statistics are taken over the stored values (what a separate Add then Norm would see).
//
// Aliasing: every element is read and written by one thread, which reads all its inputs of a row
// before writing, so y may alias x (plain norms) or h (fused norms).
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dtype_util.cuh"

namespace infer::kernels::cuda {
namespace {

template <typename T>
struct NormArgs {
  T* x;             // [rows, n]; += h in the fused variants, read-only otherwise
  const T* h;       // [rows, n]; fused variants only
  const T* gamma;   // [n]
  const T* beta;    // [n] or null (LayerNorm only)
  T* y;             // [rows, n]
  float eps;
  int64_t rows;
  int n;
};

constexpr int kWarpRowsPerBlock = 4;  // warp-per-row kernel: blockDim = (32, 4)
constexpr int kWarpMaxN = 1024;
constexpr int kBlockVecsPerThread = 4;
constexpr int kBlockMaxThreads = 1024;
constexpr int kGenericThreads = 256;

// Sums over a row's group of threads: a warp, or the whole block (with barriers). smem: 64.
template <bool kWarpPerRow>
__device__ __forceinline__ float GroupSum(float v, float* smem) {
  if constexpr (kWarpPerRow) {
    return WarpSum(v);
  } else {
    return BlockSum(v, smem);
  }
}
template <bool kWarpPerRow>
__device__ __forceinline__ void GroupSum2(float& a, float& b, float* smem) {
  if constexpr (kWarpPerRow) {
    WarpSum2(a, b);
  } else {
    BlockSum2(a, b, smem);
  }
}

// Mean and 1/sqrt(var + eps) from the first-pass mean and the deviations' sums s1 = sum(d),
// s2 = sum(d^2), d = x - mean: the corrected two-pass algorithm. s1 / n removes the rounding
// error of the first-pass mean (which grows with |mean| and n), var = s2 / n - (s1 / n)^2.
__device__ __forceinline__ void FinishMoments(float& mean, float s1, float s2, float inv_n,
                                              float eps, float& inv) {
  const float shift = s1 * inv_n;
  mean += shift;
  const float var = fmaxf(s2 * inv_n - shift * shift, 0.0f);
  inv = 1.0f / sqrtf(var + eps);
}

// Register-resident row. kWarpPerRow: blockDim (32, kWarpRowsPerBlock), one warp per row;
// otherwise blockDim (G, 1) with G % 32 == 0, one block per row. Thread `tid` of a row's group
// of G owns the 16-byte vectors tid + i * G, i < kVecs.
template <typename T, int kVecs, bool kWarpPerRow, bool kAdd, bool kRms>
__global__ void __launch_bounds__(kWarpPerRow ? 32 * kWarpRowsPerBlock : kBlockMaxThreads)
    NormRegKernel(NormArgs<T> a) {
  constexpr int kV = kVec16<T>;
  __shared__ float smem[64];
  const int nvec = a.n / kV;
  const int tid = threadIdx.x;
  const int group = kWarpPerRow ? 32 : static_cast<int>(blockDim.x);
  int64_t row = kWarpPerRow ? static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + threadIdx.y
                            : static_cast<int64_t>(blockIdx.x);
  const int64_t row_stride =
      kWarpPerRow ? static_cast<int64_t>(gridDim.x) * kWarpRowsPerBlock : gridDim.x;
  // The loop condition is uniform over the warp (warp per row) or the block (block per row),
  // so the shuffles and barriers below see every thread of their group.
  for (; row < a.rows; row += row_stride) {
    const int64_t base = row * a.n;
    float v[kVecs][kV];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = tid + i * group;
      if (c < nvec) {
        LoadF<kV>(a.x + base + static_cast<int64_t>(c) * kV, v[i]);
        if constexpr (kAdd) {
          float hv[kV];
          LoadF<kV>(a.h + base + static_cast<int64_t>(c) * kV, hv);
#pragma unroll
          for (int e = 0; e < kV; ++e) v[i][e] = RoundTo<T>(v[i][e] + hv[e]);
          StoreF<kV>(a.x + base + static_cast<int64_t>(c) * kV, v[i]);
        }
#pragma unroll
        for (int e = 0; e < kV; ++e) sum += kRms ? v[i][e] * v[i][e] : v[i][e];
      } else {
#pragma unroll
        for (int e = 0; e < kV; ++e) v[i][e] = 0.0f;
      }
    }
    sum = GroupSum<kWarpPerRow>(sum, smem);
    const float inv_n = 1.0f / static_cast<float>(a.n);
    float mean = 0.0f, inv;
    if constexpr (kRms) {
      inv = 1.0f / sqrtf(sum * inv_n + a.eps);
    } else {
      mean = sum * inv_n;
      float s1 = 0.0f, s2 = 0.0f;
#pragma unroll
      for (int i = 0; i < kVecs; ++i) {
        if (tid + i * group < nvec) {
#pragma unroll
          for (int e = 0; e < kV; ++e) {
            const float d = v[i][e] - mean;
            s1 += d;
            s2 += d * d;
          }
        }
      }
      GroupSum2<kWarpPerRow>(s1, s2, smem);
      FinishMoments(mean, s1, s2, inv_n, a.eps, inv);
    }
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = tid + i * group;
      if (c < nvec) {
        float g[kV], out[kV];
        LoadF<kV>(a.gamma + static_cast<int64_t>(c) * kV, g);
#pragma unroll
        for (int e = 0; e < kV; ++e) out[e] = (v[i][e] - mean) * inv * g[e];
        if (!kRms && a.beta != nullptr) {
          float b[kV];
          LoadF<kV>(a.beta + static_cast<int64_t>(c) * kV, b);
#pragma unroll
          for (int e = 0; e < kV; ++e) out[e] += b[e];
        }
        StoreF<kV>(a.y + base + static_cast<int64_t>(c) * kV, out);
      }
    }
  }
}

// Any width and alignment: a block per row, three (LayerNorm) or two (RMSNorm) passes over the
// row in global memory (L1/L2 resident for the widths that get here). Element j of a row is
// always handled by thread j % blockDim.x, so its own earlier store to x is what it re-reads.
template <typename T, bool kAdd, bool kRms>
__global__ void __launch_bounds__(kGenericThreads) NormGenericKernel(NormArgs<T> a) {
  __shared__ float smem[64];
  const float inv_n = 1.0f / static_cast<float>(a.n);
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    T* xr = a.x + row * a.n;
    T* yr = a.y + row * a.n;
    float sum = 0.0f;
    for (int j = threadIdx.x; j < a.n; j += blockDim.x) {
      float v = ToF32(xr[j]);
      if constexpr (kAdd) {
        const T s = FromF32<T>(v + ToF32(a.h[row * a.n + j]));
        xr[j] = s;
        v = ToF32(s);
      }
      sum += kRms ? v * v : v;
    }
    sum = BlockSum(sum, smem);
    float mean = 0.0f, inv;
    if constexpr (kRms) {
      inv = 1.0f / sqrtf(sum * inv_n + a.eps);
    } else {
      mean = sum * inv_n;
      float s1 = 0.0f, s2 = 0.0f;
      for (int j = threadIdx.x; j < a.n; j += blockDim.x) {
        const float d = ToF32(xr[j]) - mean;
        s1 += d;
        s2 += d * d;
      }
      BlockSum2(s1, s2, smem);
      FinishMoments(mean, s1, s2, inv_n, a.eps, inv);
    }
    for (int j = threadIdx.x; j < a.n; j += blockDim.x) {
      float out = (ToF32(xr[j]) - mean) * inv * ToF32(a.gamma[j]);
      if (!kRms && a.beta != nullptr) out += ToF32(a.beta[j]);
      yr[j] = FromF32<T>(out);
    }
  }
}

template <typename T, bool kAdd, bool kRms>
void LaunchNorm(const NormArgs<T>& a, cudaStream_t stream) {
  constexpr int kV = kVec16<T>;
  const bool vec = a.n % kV == 0 && Aligned(a.x, 16) && Aligned(a.y, 16) &&
                   Aligned(a.gamma, 16) && (a.h == nullptr || Aligned(a.h, 16)) &&
                   (a.beta == nullptr || Aligned(a.beta, 16));
  const int64_t nvec = a.n / kV;
  if (vec && a.n <= kWarpMaxN) {
    // 32 lanes x kWarpVecs vectors cover 1024 elements: 8 float4 or 4 x (8 halves).
    constexpr int kWarpVecs = kWarpMaxN / (32 * kV);
    const dim3 block(32, kWarpRowsPerBlock);
    NormRegKernel<T, kWarpVecs, true, kAdd, kRms>
        <<<GridX(CeilDiv(a.rows, kWarpRowsPerBlock)), block, 0, stream>>>(a);
  } else if (vec && nvec <= int64_t{kBlockMaxThreads} * kBlockVecsPerThread) {
    const int threads = ThreadsFor(CeilDiv(nvec, kBlockVecsPerThread), kBlockMaxThreads);
    NormRegKernel<T, kBlockVecsPerThread, false, kAdd, kRms>
        <<<GridX(a.rows), threads, 0, stream>>>(a);
  } else {
    NormGenericKernel<T, kAdd, kRms>
        <<<GridX(a.rows), ThreadsFor(a.n, kGenericThreads), 0, stream>>>(a);
  }
  INFER_CUDA_CHECK_LAUNCH();
}

template <bool kAdd, bool kRms>
void Norm(void* x, const void* h, const void* gamma, const void* beta, float eps, int64_t rows,
          int64_t n, void* y, DType dtype, const char* op, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  if (n > INT32_MAX) throw std::invalid_argument(std::string(op) + ": row too wide");
  DispatchFloatType(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    NormArgs<T> a;
    a.x = static_cast<T*>(x);
    a.h = static_cast<const T*>(h);
    a.gamma = static_cast<const T*>(gamma);
    a.beta = static_cast<const T*>(beta);
    a.y = static_cast<T*>(y);
    a.eps = eps;
    a.rows = rows;
    a.n = static_cast<int>(n);
    LaunchNorm<T, kAdd, kRms>(a, stream);
  });
}

}  // namespace

void LayerNorm(const void* x, const void* gamma, const void* beta, float eps, int64_t rows,
               int64_t n, void* y, DType dtype, cudaStream_t stream) {
  Norm<false, false>(const_cast<void*>(x), nullptr, gamma, beta, eps, rows, n, y, dtype,
                     "LayerNorm", stream);
}

void AddLayerNorm(void* x, const void* h, const void* gamma, const void* beta, float eps,
                  int64_t rows, int64_t n, void* y, DType dtype, cudaStream_t stream) {
  Norm<true, false>(x, h, gamma, beta, eps, rows, n, y, dtype, "AddLayerNorm", stream);
}

void RmsNorm(const void* x, const void* gamma, float eps, int64_t rows, int64_t n, void* y,
             DType dtype, cudaStream_t stream) {
  Norm<false, true>(const_cast<void*>(x), nullptr, gamma, nullptr, eps, rows, n, y, dtype,
                    "RmsNorm", stream);
}

void AddRmsNorm(void* x, const void* h, const void* gamma, float eps, int64_t rows, int64_t n,
                void* y, DType dtype, cudaStream_t stream) {
  Norm<true, true>(x, h, gamma, nullptr, eps, rows, n, y, dtype, "AddRmsNorm", stream);
}

}  // namespace infer::kernels::cuda
