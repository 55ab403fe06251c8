// Storage-type conversion between F32, F16 and BF16 (host float32 staging <-> device tensors,
// F32 logits from 16-bit activations). Through float32, which holds every F16/BF16 value
// exactly, then one round-to-nearest-even into the destination (__float2half_rn /
// __float2bfloat16_rn), so F16 <-> BF16 rounds once too. Same-type copies are a D2D memcpy.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dtype_util.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 4;  // elements per access: 16 bytes of float, 8 bytes of a 16-bit type

// dst[i] = src[i] for i < n: chunks of kChunk for i < chunks * kChunk, single elements after.
template <typename Ts, typename Td>
__global__ void __launch_bounds__(kThreads)
    ConvertKernel(const Ts* src, Td* dst, int64_t n, int64_t chunks) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < chunks; i += stride) {
    float v[kChunk];
    LoadF<kChunk>(src + i * kChunk, v);
    StoreF<kChunk>(dst + i * kChunk, v);
  }
  for (int64_t i = chunks * kChunk + tid; i < n; i += stride) dst[i] = FromF32<Td>(ToF32(src[i]));
}

}  // namespace

void Convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n,
             cudaStream_t stream) {
  if (n <= 0) return;
  if (src_dtype == dst_dtype) {
    if (src != dst) {
      INFER_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * DTypeSize(src_dtype),
                                       cudaMemcpyDeviceToDevice, stream));
    }
    return;
  }
  DispatchFloatType(src_dtype, "Convert", [&](auto stag) {
    using Ts = typename decltype(stag)::type;
    DispatchFloatType(dst_dtype, "Convert", [&](auto dtag) {
      using Td = typename decltype(dtag)::type;
      if constexpr (!std::is_same_v<Ts, Td>) {
        const bool vec = Aligned(src, kChunk * sizeof(Ts)) && Aligned(dst, kChunk * sizeof(Td));
        const int64_t chunks = vec ? n / kChunk : 0;
        const int64_t work = chunks > 0 ? chunks : n;
        ConvertKernel<Ts, Td><<<GridX(CeilDiv(work, kThreads)), kThreads, 0, stream>>>(
            static_cast<const Ts*>(src), static_cast<Td*>(dst), n, chunks);
        INFER_CUDA_CHECK_LAUNCH();
      }
    });
  });
}

}  // namespace infer::kernels::cuda
