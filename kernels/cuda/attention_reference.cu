// Reference attention path: exact two-pass softmax for any dtype (F32, F16, BF16), any head_dim
// <= 256 and any query length, paged or contiguous keys. It is the path that writes the softmax
// probabilities for explanations (probs != nullptr) and the fallback for shapes the tensor-core
// kernels do not cover. Same arithmetic as kernels/cpu/attention.cc: score = (q . k) * scale,
// p = expf(score - max) * (1 / sum), masked keys get probability 0.
//
// One CTA (4 warps) per (query row, head); grid (total_q, num_heads). Pass 1: each warp takes
// keys j = warp, warp + 4, ...; its lanes split the head dimension (lane + 32u) and reduce the
// dot product with shuffles; running (max, sum) per warp, merged across warps. Pass 2 recomputes
// the scores, writes the probabilities and accumulates p * v per lane, then the warps' partial
// outputs are summed through shared memory. Memory: O(head_dim) shared, none per key, so any
// context length works.
#include "kernels/cuda/attention_common.cuh"

namespace infer::kernels::cuda::attn {
namespace {

constexpr int kRefWarps = 4;
constexpr int kRefThreads = kRefWarps * 32;
constexpr int kRefMaxDim = 256;
constexpr int kRefPerLane = kRefMaxDim / 32;

struct RefArgs {
  const void* q;          // [total_q, num_heads, head_dim]
  void* out;              // [total_q, num_heads, head_dim]
  const void* k;          // [total_q, num_kv_heads, head_dim] or the paged cache
  const void* v;          //   [num_blocks, block_size, num_kv_heads, head_dim]
  KvLayout kv;
  const int32_t* cu_seqlens_q;  // [num_seqs + 1]
  const int32_t* context_lens;  // [num_seqs]
  float* probs;                 // sequence s at probs + probs_offsets[s]: [num_heads, q_len, ctx]
  const int64_t* probs_offsets;  // [num_seqs]
  int num_seqs;
  int num_heads;
  int group;  // num_heads / num_kv_heads
  int head_dim;
  float scale;
  bool causal;
};

template <typename T>
__device__ __forceinline__ float Dot(const float* sq, const T* k, int lane, int d) {
  float dot = 0.0f;
#pragma unroll
  for (int u = 0; u < kRefPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < d) dot += sq[c] * ToFloat<T>(k[c]);
  }
  return WarpSum(dot);
}

template <typename T>
__global__ void __launch_bounds__(kRefThreads) ReferenceKernel(const RefArgs a) {
  const int row = blockIdx.x;
  const int h = blockIdx.y;
  const int s = SeqOfRow(a.cu_seqlens_q, a.num_seqs, row);
  const int q0 = a.cu_seqlens_q[s];
  const int q_len = a.cu_seqlens_q[s + 1] - q0;
  if (row < q0 || row >= q0 + q_len) return;  // rows before cu_seqlens_q[0]
  const int i = row - q0;
  const int ctx = a.context_lens[s];
  const int visible = max(0, min(ctx, a.causal ? ctx - q_len + i + 1 : ctx));
  const int kh = h / a.group;
  const int d = a.head_dim;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  const T* q = static_cast<const T*>(a.q) + (static_cast<int64_t>(row) * a.num_heads + h) * d;
  T* out = static_cast<T*>(a.out) + (static_cast<int64_t>(row) * a.num_heads + h) * d;
  const T* kbase = static_cast<const T*>(a.k);
  const T* vbase = static_cast<const T*>(a.v);
  float* probs = a.probs == nullptr
                     ? nullptr
                     : a.probs + a.probs_offsets[s] +
                           (static_cast<int64_t>(h) * q_len + i) * static_cast<int64_t>(ctx);

  __shared__ float sq[kRefMaxDim];
  __shared__ float s_red[kRefWarps][kRefMaxDim];
  __shared__ float s_m[kRefWarps], s_l[kRefWarps];

  // Masked keys: probability 0, like the CPU reference.
  if (probs != nullptr) {
    for (int j = visible + threadIdx.x; j < ctx; j += kRefThreads) probs[j] = 0.0f;
  }
  if (visible == 0) {  // no key to attend to (only for inconsistent lengths): output 0
    for (int c = threadIdx.x; c < d; c += kRefThreads) out[c] = FromFloat<T>(0.0f);
    return;
  }
  for (int c = threadIdx.x; c < d; c += kRefThreads) sq[c] = ToFloat<T>(q[c]);
  __syncthreads();

  // Pass 1: max and sum of exp over the visible keys.
  float m = -INFINITY, l = 0.0f;
  for (int j = warp; j < visible; j += kRefWarps) {
    const T* k = kbase + a.kv.Offset(a.kv.Slot(s, q0, j), kh);
    const float sc = Dot<T>(sq, k, lane, d) * a.scale;
    const float m_new = fmaxf(m, sc);
    l = l * expf(m - m_new) + expf(sc - m_new);
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
  __syncthreads();
  float mx = -INFINITY;
#pragma unroll
  for (int w = 0; w < kRefWarps; ++w) mx = fmaxf(mx, s_m[w]);
  float denom = 0.0f;
#pragma unroll
  for (int w = 0; w < kRefWarps; ++w) {
    if (s_m[w] != -INFINITY) denom += s_l[w] * expf(s_m[w] - mx);
  }
  const float inv = 1.0f / denom;

  // Pass 2: probabilities and p * v.
  float acc[kRefPerLane];
#pragma unroll
  for (int u = 0; u < kRefPerLane; ++u) acc[u] = 0.0f;
  for (int j = warp; j < visible; j += kRefWarps) {
    const int64_t off = a.kv.Offset(a.kv.Slot(s, q0, j), kh);
    const float sc = Dot<T>(sq, kbase + off, lane, d) * a.scale;
    const float pj = expf(sc - mx) * inv;
    if (probs != nullptr && lane == 0) probs[j] = pj;
    const T* v = vbase + off;
#pragma unroll
    for (int u = 0; u < kRefPerLane; ++u) {
      const int c = lane + 32 * u;
      if (c < d) acc[u] += pj * ToFloat<T>(v[c]);
    }
  }
#pragma unroll
  for (int u = 0; u < kRefPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < d) s_red[warp][c] = acc[u];
  }
  __syncthreads();
  for (int c = threadIdx.x; c < d; c += kRefThreads) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kRefWarps; ++w) o += s_red[w][c];
    out[c] = FromFloat<T>(o);
  }
}

}  // namespace

void LaunchReference(const AttentionParams& p, int total_q, cudaStream_t stream) {
  RefArgs a;
  SetSharedArgs(p, a);
  a.probs = p.probs;
  a.probs_offsets = p.probs_offsets;
  a.num_seqs = p.num_seqs;
  a.head_dim = p.head_dim;
  a.scale = p.scale;
  a.causal = p.causal;
  const dim3 grid(static_cast<unsigned>(total_q), static_cast<unsigned>(p.num_heads));
  switch (p.dtype) {
    case DType::kF32:
      LaunchKernel(ReferenceKernel<float>, grid, dim3(kRefThreads), stream, a);
      break;
    case DType::kF16:
      LaunchKernel(ReferenceKernel<__half>, grid, dim3(kRefThreads), stream, a);
      break;
    case DType::kBF16:
      LaunchKernel(ReferenceKernel<__nv_bfloat16>, grid, dim3(kRefThreads), stream, a);
      break;
    default:
      throw std::invalid_argument(std::string("cuda::Attention: unsupported dtype ") +
                                  DTypeName(p.dtype));
  }
  CheckLaunch("ReferenceKernel");
}

}  // namespace infer::kernels::cuda::attn
