// Rotary position embeddings (RoPE) in place on q [tokens, heads, head_dim] and
// k [tokens, kv_heads, head_dim]. Angles as kernels/cpu/rotary.cc computes them: in double,
// inv_freq[i] = base^(-2i/rotary_dim), angle = pos * inv_freq[i], cos/sin rounded once to
// float, so positions in the tens of thousands keep full float precision (a float angle of
// 32000 rad would be off by ~1e-3 rad).
//
// Grid: x walks tokens (grid-stride), y splits the token's q+k heads into chunks of
// kHeadsPerBlock so a decode step with few tokens still fills several SMs. Each block first
// builds its token's cos/sin table (rotary_dim/2 entries of each, dynamic shared memory) with
// one double sincos per entry, then rotates pairs: (i, i + rotary_dim/2) in the neox layout
// (transformers' rotate_half), (2i, 2i + 1) interleaved (GPT-J). Features past rotary_dim stay.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dtype_util.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kHeadsPerBlock = 8;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    RotaryKernel(T* q, T* k, const int32_t* positions, int num_tokens, int num_heads,
                 int num_kv_heads, int head_dim, int rotary_dim, float base, bool interleaved) {
  extern __shared__ float table[];  // [half] cos, then [half] sin
  const int half = rotary_dim / 2;
  float* cos_t = table;
  float* sin_t = table + half;
  const int total_heads = num_heads + num_kv_heads;
  const int head_begin = blockIdx.y * kHeadsPerBlock;
  const int heads = min(kHeadsPerBlock, total_heads - head_begin);
  if (heads <= 0) return;  // uniform over the block
  for (int64_t t = blockIdx.x; t < num_tokens; t += gridDim.x) {
    __syncthreads();  // the previous token's table is no longer read
    const double pos = static_cast<double>(positions[t]);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
      // Same expression as the CPU reference: pow(base, (-2.0 * i) / rotary_dim).
      const double inv_freq = pow(static_cast<double>(base), -2.0 * i / rotary_dim);
      double s, c;
      sincos(pos * inv_freq, &s, &c);
      cos_t[i] = static_cast<float>(c);
      sin_t[i] = static_cast<float>(s);
    }
    __syncthreads();
    for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
      const int hh = head_begin + p / half;  // head index over q's heads, then k's
      const int i = p % half;
      T* x = hh < num_heads
                 ? q + (t * num_heads + hh) * static_cast<int64_t>(head_dim)
                 : k + (t * num_kv_heads + (hh - num_heads)) * static_cast<int64_t>(head_dim);
      const int a = interleaved ? 2 * i : i;
      const int b = interleaved ? 2 * i + 1 : i + half;
      const float x0 = ToF32(x[a]), x1 = ToF32(x[b]);
      x[a] = FromF32<T>(x0 * cos_t[i] - x1 * sin_t[i]);
      x[b] = FromF32<T>(x1 * cos_t[i] + x0 * sin_t[i]);
    }
  }
}

}  // namespace

void Rotary(const RotaryParams& p, cudaStream_t stream) {
  const int num_heads = p.q != nullptr ? p.num_heads : 0;
  const int num_kv_heads = p.k != nullptr ? p.num_kv_heads : 0;
  const int total_heads = num_heads + num_kv_heads;
  if (p.num_tokens <= 0 || p.rotary_dim <= 0 || total_heads <= 0) return;
  if (p.rotary_dim % 2 != 0 || p.rotary_dim > p.head_dim) {
    throw std::invalid_argument("Rotary: rotary_dim " + std::to_string(p.rotary_dim) +
                                " must be even and <= head_dim " + std::to_string(p.head_dim));
  }
  const int half = p.rotary_dim / 2;
  const int threads = ThreadsFor(int64_t{kHeadsPerBlock} * half, kThreads);
  const dim3 grid(GridX(p.num_tokens), static_cast<unsigned>(CeilDiv(total_heads, kHeadsPerBlock)));
  const size_t smem = 2 * static_cast<size_t>(half) * sizeof(float);
  DispatchFloatType(p.dtype, "Rotary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    RotaryKernel<T><<<grid, threads, smem, stream>>>(
        static_cast<T*>(p.q), static_cast<T*>(p.k), p.positions, p.num_tokens, num_heads,
        num_kv_heads, p.head_dim, p.rotary_dim, p.base, p.interleaved);
    INFER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace infer::kernels::cuda
