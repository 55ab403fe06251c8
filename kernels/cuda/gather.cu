// Row gathers: token embeddings (out[i] = table[ids[i]], or += for position/type embeddings) and
// GatherRows (out[i] = x[rows[i]], e.g. the last position of each sequence before the LM head).
// Indices are device int32 arrays the host has already range-checked. Output rows on grid.y
// (grid-stride), 16-byte column vectors on grid.x when d and the pointers allow it.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dtype_util.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// out[i, :] (+)= table[ids[i], :] for i < n; rows of d elements, kN elements per access.
template <typename T, int kN>
__global__ void __launch_bounds__(kThreads)
    GatherKernel(const T* table, const int32_t* ids, int64_t n, int64_t d, bool accumulate,
                 T* out) {
  const int64_t chunks = d / kN;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const T* src = table + static_cast<int64_t>(ids[i]) * d;
    T* dst = out + i * d;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks;
         c += stride) {
      float v[kN];
      LoadF<kN>(src + c * kN, v);  // exact: every F16/BF16 value is a float
      if (accumulate) {
        float o[kN];
        LoadF<kN>(dst + c * kN, o);
#pragma unroll
        for (int e = 0; e < kN; ++e) v[e] += o[e];
      }
      StoreF<kN>(dst + c * kN, v);
    }
  }
}

void Gather(const void* table, const int32_t* ids, int64_t n, int64_t d, bool accumulate,
            void* out, DType dtype, const char* op, cudaStream_t stream) {
  if (n <= 0 || d <= 0) return;
  DispatchFloatType(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = kVec16<T>;
    const T* t = static_cast<const T*>(table);
    T* o = static_cast<T*>(out);
    const bool vec = d % kV == 0 && Aligned(table, 16) && Aligned(out, 16);
    const int64_t chunks = vec ? d / kV : d;
    const int threads = ThreadsFor(chunks, kThreads);
    const dim3 grid(GridX(CeilDiv(chunks, threads)), GridY(n));
    if (vec) {
      GatherKernel<T, kV><<<grid, threads, 0, stream>>>(t, ids, n, d, accumulate, o);
    } else {
      GatherKernel<T, 1><<<grid, threads, 0, stream>>>(t, ids, n, d, accumulate, o);
    }
    INFER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void Embedding(const void* table, const int32_t* ids, int64_t n, int64_t d, bool accumulate,
               void* out, DType dtype, cudaStream_t stream) {
  Gather(table, ids, n, d, accumulate, out, dtype, "Embedding", stream);
}

void GatherRows(const void* x, const int32_t* rows, int64_t n, int64_t d, void* out, DType dtype,
                cudaStream_t stream) {
  Gather(x, rows, n, d, false, out, dtype, "GatherRows", stream);
}

}  // namespace infer::kernels::cuda
