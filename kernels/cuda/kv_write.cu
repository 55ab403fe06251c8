// cuda::WriteKv (vLLM's reshape_and_cache): row i of k/v ([num_tokens, num_kv_heads, head_dim])
// goes to slot slot_mapping[i] of the paged caches ([num_blocks, block_size, num_kv_heads,
// head_dim], so slot = block * block_size + offset addresses a whole row). A plain copy, any
// dtype: one CTA per token copies its K and V rows with the widest vector (16, 8, 4 or 2 bytes)
// that the row size and the pointers' alignment allow. Negative slots (padding) are skipped.
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_common.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kThreads = 128;

// k/v rows and cache rows are `units` vectors of type V.
template <typename V>
__global__ void __launch_bounds__(kThreads)
    KvWriteKernel(const V* __restrict__ k, const V* __restrict__ v, V* __restrict__ k_cache,
                  V* __restrict__ v_cache, const int32_t* __restrict__ slot_mapping, int units) {
  const int64_t token = blockIdx.x;
  const int64_t slot = __ldg(slot_mapping + token);
  if (slot < 0) return;
  const V* ks = k + token * units;
  const V* vs = v + token * units;
  V* kd = k_cache + slot * units;
  V* vd = v_cache + slot * units;
  for (int u = threadIdx.x; u < units; u += kThreads) {
    kd[u] = ks[u];
    vd[u] = vs[u];
  }
}

template <typename V>
void Launch(const KvWriteParams& p, int64_t row_bytes, cudaStream_t stream) {
  attn::LaunchKernel(KvWriteKernel<V>, dim3(static_cast<unsigned>(p.num_tokens)), dim3(kThreads),
                     stream, static_cast<const V*>(p.k), static_cast<const V*>(p.v),
                     static_cast<V*>(p.k_cache), static_cast<V*>(p.v_cache), p.slot_mapping,
                     static_cast<int>(row_bytes / sizeof(V)));
  attn::CheckLaunch("KvWriteKernel");
}

}  // namespace

void WriteKv(const KvWriteParams& p, cudaStream_t stream) {
  if (p.num_tokens <= 0 || p.num_kv_heads <= 0 || p.head_dim <= 0) return;
  const int64_t row_bytes =
      static_cast<int64_t>(p.num_kv_heads) * p.head_dim * static_cast<int64_t>(DTypeSize(p.dtype));
  const uintptr_t align = reinterpret_cast<uintptr_t>(p.k) | reinterpret_cast<uintptr_t>(p.v) |
                          reinterpret_cast<uintptr_t>(p.k_cache) |
                          reinterpret_cast<uintptr_t>(p.v_cache) |
                          static_cast<uintptr_t>(row_bytes);
  if ((align & 15u) == 0) {
    Launch<uint4>(p, row_bytes, stream);
  } else if ((align & 7u) == 0) {
    Launch<uint2>(p, row_bytes, stream);
  } else if ((align & 3u) == 0) {
    Launch<uint32_t>(p, row_bytes, stream);
  } else {
    Launch<uint16_t>(p, row_bytes, stream);
  }
}

}  // namespace infer::kernels::cuda
