// Decode attention over the paged KV cache (one query row per sequence), split-KV
// ("flash-decoding"): grid (num_seqs, num_kv_heads * head_chunks, num_splits). A CTA takes the
// keys [split * split_len, min(ctx, (split + 1) * split_len)) of one sequence for GT query heads
// of one GQA group (GT = 1, 2, 4 or 8; larger groups use several head chunks), so every K/V row
// it reads serves all GT heads. Sequences whose context fits one split write the output directly;
// the others write unnormalised partial outputs and (max, sum) to the workspace and
// DecodeReduceKernel combines them.
//
// Threads: 128 (4 warps). A key row of head_dim elements is read by `tpk` lanes (the smallest
// power of two >= head_dim / vector, at most 32), each holding one 16-byte vector (two for F32
// with head_dim > 128): 128 / tpk key slots per CTA. Keys are processed in chunks of 256:
//   A. scores: each slot loads U key rows (16-byte loads), dot products with the GT query rows
//      held in registers (float), reduced over the tpk lanes with a reduce-scatter so the
//      shuffles per key are about GT + log2(tpk) instead of GT * log2(tpk); scores to shared;
//   B. one warp per head: chunk max, p = expf(score - running max) in place, running sum and
//      the correction factor of the previous accumulator;
//   C. each slot accumulates p * v for its keys into registers [GT][its vector of dims].
// At the end the slots' accumulators are summed (shuffles within a warp, shared memory across
// warps). Scores are exact float32 (expf, not exp2f), so F32 decode matches the CPU to ~1e-6.
#include "kernels/cuda/attention_common.cuh"

namespace infer::kernels::cuda::attn {
namespace {

constexpr int kDecodeWarps = kDecodeThreads / 32;
constexpr int kDecodeMaxDim = 256;

struct DecodeArgs {
  const void* q;   // [total_q, num_heads, head_dim]
  void* out;       // [total_q, num_heads, head_dim]
  const void* k;   // paged cache [num_blocks, block_size, num_kv_heads, head_dim] or contiguous
  const void* v;
  KvLayout kv;
  const int32_t* cu_seqlens_q;  // [num_seqs + 1]
  const int32_t* context_lens;  // [num_seqs]
  float* part_out;  // [num_seqs, num_heads, num_splits, head_dim] unnormalised sum p * v
  float* part_ml;   // [num_seqs, num_heads, num_splits, 2]: running max, sum of exp
  int num_heads;
  int group;        // num_heads / num_kv_heads
  int head_chunks;  // ceil(group / GT)
  int head_dim;
  int tpk;          // lanes per key row (power of two <= 32)
  int log2_tpk;
  int split_len;    // keys per split, a multiple of kDecodeChunk
  int num_splits;
  float scale;
};

// Sums v[0..G) over the tpk lanes of a key group and scatters the results: afterwards lane `li`
// holds complete sums for heads [head_base, head_base + n) in v[0..n), where
// n = max(1, G / tpk) and head_base = (li / max(1, tpk / G)) * n (see the caller). Each step with
// offset o halves the values a lane keeps: lanes with bit o set keep the upper half and receive
// their partner's upper half, the others the lower half; once one value is left the remaining
// offsets are a plain butterfly sum.
template <int G>
__device__ __forceinline__ void ReduceScatter(float (&v)[G], int li, int tpk) {
  int off = tpk >> 1;
#pragma unroll
  for (int n = G; n > 1; n >>= 1) {
    if (off > 0) {
      const bool upper = (li & off) != 0;
#pragma unroll
      for (int i = 0; i < n / 2; ++i) {
        const float send = upper ? v[i] : v[i + n / 2];
        const float keep = upper ? v[i + n / 2] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, off);
      }
      off >>= 1;
    }
  }
  for (; off > 0; off >>= 1) v[0] += __shfl_xor_sync(0xffffffffu, v[0], off);
}

template <typename T, int GT>
__global__ void __launch_bounds__(kDecodeThreads) DecodeKernel(const DecodeArgs a) {
  constexpr int E = kVecElems<T>;                // elements per 16-byte vector
  constexpr int VPT = sizeof(T) == 4 ? 2 : 1;    // vectors per lane: head_dim <= 256
  constexpr int U = GT >= 8 ? 2 : 4;             // key rows in flight per lane
  static_assert(VPT * E * 32 >= kDecodeMaxDim, "a warp must cover a 256-wide row");

  const int s = blockIdx.x;
  const int kh = blockIdx.y / a.head_chunks;
  const int hc = blockIdx.y - kh * a.head_chunks;
  const int split = blockIdx.z;
  const int row = __ldg(a.cu_seqlens_q + s);
  if (__ldg(a.cu_seqlens_q + s + 1) - row != 1) return;  // not a decode sequence
  const int ctx = __ldg(a.context_lens + s);
  const int key_begin = split * a.split_len;
  if (key_begin >= ctx) return;  // this sequence needs fewer splits
  const int key_end = min(ctx, key_begin + a.split_len);
  const bool direct = ctx <= a.split_len;  // one split covers the context: write the output
  const int h0 = kh * a.group + hc * GT;   // first query head of this CTA
  const int nh = min(GT, a.group - hc * GT);
  const int d = a.head_dim;
  const int nv = d / E;  // vectors per row
  const int tpk = a.tpk;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int li = lane & (tpk - 1);          // lane within the key group
  const int slot = tid >> a.log2_tpk;       // key slot of this lane's group
  const int num_slots = kDecodeThreads >> a.log2_tpk;
  const int iters = max(1, kDecodeChunk / (num_slots * U));
  // Who holds which head after ReduceScatter.
  const int n_per_lane = GT > tpk ? GT / tpk : 1;
  const int lanes_per_head = tpk > GT ? tpk / GT : 1;
  const int head_base = (li / lanes_per_head) * n_per_lane;
  const bool score_writer = (li & (lanes_per_head - 1)) == 0;

  const T* kbase = static_cast<const T*>(a.k);
  const T* vbase = static_cast<const T*>(a.v);

  // Scores/probabilities [GT][kDecodeChunk] in the loop; partial outputs
  // [kDecodeWarps][GT][kDecodeMaxDim] after it.
  __shared__ float s_buf[kDecodeWarps * GT * kDecodeMaxDim];
  __shared__ int64_t s_off[kDecodeChunk];  // element offset of each key row of the chunk
  __shared__ float s_m[GT], s_l[GT], s_corr[GT];
  static_assert(kDecodeWarps * kDecodeMaxDim >= kDecodeChunk, "scores fit the buffer");

  // This lane's slice of the GT query rows, as float (zeros past nh heads or past the row).
  float qf[GT][VPT][E];
  {
    const T* qrow = static_cast<const T*>(a.q) + static_cast<int64_t>(row) * a.num_heads * d;
#pragma unroll
    for (int g = 0; g < GT; ++g) {
#pragma unroll
      for (int t = 0; t < VPT; ++t) {
        const int vi = li + t * tpk;
        if (g < nh && vi < nv) {
          VecToFloats<T>(LoadVec(qrow + static_cast<int64_t>(h0 + g) * d + vi * E), qf[g][t]);
        } else {
#pragma unroll
          for (int e = 0; e < E; ++e) qf[g][t][e] = 0.0f;
        }
      }
    }
  }
  if (tid < GT) {
    s_m[tid] = -INFINITY;
    s_l[tid] = 0.0f;
  }
  float acc[GT][VPT][E];
#pragma unroll
  for (int g = 0; g < GT; ++g)
#pragma unroll
    for (int t = 0; t < VPT; ++t)
#pragma unroll
      for (int e = 0; e < E; ++e) acc[g][t][e] = 0.0f;

  for (int c0 = key_begin; c0 < key_end; c0 += kDecodeChunk) {
    const int clen = min(kDecodeChunk, key_end - c0);
    for (int j = tid; j < clen; j += kDecodeThreads) {
      s_off[j] = a.kv.Offset(a.kv.Slot(s, row, c0 + j), kh);
    }
    __syncthreads();

    // A. scores[g][j] = scale * q_g . k_j
    for (int it = 0; it < iters; ++it) {
      uint4 kvec[U][VPT];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = (it * U + u) * num_slots + slot;
#pragma unroll
        for (int t = 0; t < VPT; ++t) {
          const int vi = li + t * tpk;
          kvec[u][t] = (j < clen && vi < nv) ? LoadVec(kbase + s_off[j] + vi * E)
                                             : make_uint4(0u, 0u, 0u, 0u);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        float part[GT];
#pragma unroll
        for (int g = 0; g < GT; ++g) part[g] = 0.0f;
#pragma unroll
        for (int t = 0; t < VPT; ++t) {
          float kf[E];
          VecToFloats<T>(kvec[u][t], kf);
#pragma unroll
          for (int g = 0; g < GT; ++g)
#pragma unroll
            for (int e = 0; e < E; ++e) part[g] = fmaf(qf[g][t][e], kf[e], part[g]);
        }
        ReduceScatter<GT>(part, li, tpk);
        const int j = (it * U + u) * num_slots + slot;
        if (j < clen && score_writer) {
#pragma unroll
          for (int i = 0; i < GT; ++i) {
            if (i < n_per_lane) s_buf[(head_base + i) * kDecodeChunk + j] = part[i] * a.scale;
          }
        }
      }
    }
    __syncthreads();

    // B. one warp per head: running max, probabilities in place, running sum.
    for (int g = warp; g < GT; g += kDecodeWarps) {
      float* sp = s_buf + g * kDecodeChunk;
      float mx = -INFINITY;
      for (int j = lane; j < clen; j += 32) mx = fmaxf(mx, sp[j]);
      mx = WarpMax(mx);
      const float m_old = s_m[g];
      const float m_new = fmaxf(m_old, mx);  // finite: clen >= 1
      float sum = 0.0f;
      for (int j = lane; j < clen; j += 32) {
        const float pj = expf(sp[j] - m_new);
        sp[j] = pj;
        sum += pj;
      }
      sum = WarpSum(sum);
      __syncwarp();
      if (lane == 0) {
        const float corr = expf(m_old - m_new);  // 0 on the first chunk (m_old = -inf)
        s_corr[g] = corr;
        s_l[g] = s_l[g] * corr + sum;
        s_m[g] = m_new;
      }
    }
    __syncthreads();

    // C. acc = acc * corr + sum_j p_j v_j over this slot's keys.
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      const float corr = s_corr[g];
#pragma unroll
      for (int t = 0; t < VPT; ++t)
#pragma unroll
        for (int e = 0; e < E; ++e) acc[g][t][e] *= corr;
    }
    for (int it = 0; it < iters; ++it) {
      uint4 vvec[U][VPT];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = (it * U + u) * num_slots + slot;
#pragma unroll
        for (int t = 0; t < VPT; ++t) {
          const int vi = li + t * tpk;
          vvec[u][t] = (j < clen && vi < nv) ? LoadVec(vbase + s_off[j] + vi * E)
                                             : make_uint4(0u, 0u, 0u, 0u);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = (it * U + u) * num_slots + slot;
        float pj[GT];
#pragma unroll
        for (int g = 0; g < GT; ++g) pj[g] = 0.0f;
        if (j < clen) {
#pragma unroll
          for (int g = 0; g < GT; ++g) pj[g] = s_buf[g * kDecodeChunk + j];
        }
#pragma unroll
        for (int t = 0; t < VPT; ++t) {
          float vf[E];
          VecToFloats<T>(vvec[u][t], vf);
#pragma unroll
          for (int g = 0; g < GT; ++g)
#pragma unroll
            for (int e = 0; e < E; ++e) acc[g][t][e] = fmaf(pj[g], vf[e], acc[g][t][e]);
        }
      }
    }
    __syncthreads();  // s_off and s_buf are rewritten by the next chunk
  }

  // Sum the key slots: lanes with the same li within a warp, then the warps.
  for (int off = tpk; off < 32; off <<= 1) {
#pragma unroll
    for (int g = 0; g < GT; ++g)
#pragma unroll
      for (int t = 0; t < VPT; ++t)
#pragma unroll
        for (int e = 0; e < E; ++e)
          acc[g][t][e] += __shfl_xor_sync(0xffffffffu, acc[g][t][e], off);
  }
  float* red = s_buf;  // [kDecodeWarps][GT][kDecodeMaxDim]
  if (lane < tpk) {
#pragma unroll
    for (int g = 0; g < GT; ++g)
#pragma unroll
      for (int t = 0; t < VPT; ++t) {
        const int vi = li + t * tpk;
        if (vi < nv) {
#pragma unroll
          for (int e = 0; e < E; ++e) {
            red[(warp * GT + g) * kDecodeMaxDim + vi * E + e] = acc[g][t][e];
          }
        }
      }
  }
  __syncthreads();
  for (int idx = tid; idx < nh * d; idx += kDecodeThreads) {
    const int g = idx / d;
    const int c = idx - g * d;
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) o += red[(w * GT + g) * kDecodeMaxDim + c];
    const int h = h0 + g;
    if (direct) {
      T* out = static_cast<T*>(a.out) + (static_cast<int64_t>(row) * a.num_heads + h) * d;
      out[c] = FromFloat<T>(o / s_l[g]);
    } else {
      const int64_t base = (static_cast<int64_t>(s) * a.num_heads + h) * a.num_splits + split;
      a.part_out[base * d + c] = o;
      if (c == 0) {
        a.part_ml[base * 2] = s_m[g];
        a.part_ml[base * 2 + 1] = s_l[g];
      }
    }
  }
}

// Combines the splits of one (sequence, head): out = sum_i w_i o_i / sum_i w_i l_i with
// w_i = exp(m_i - max_i m_i). Grid (num_seqs, num_heads), 128 threads.
template <typename T>
__global__ void __launch_bounds__(kDecodeThreads) DecodeReduceKernel(const DecodeArgs a) {
  const int s = blockIdx.x;
  const int h = blockIdx.y;
  const int row = __ldg(a.cu_seqlens_q + s);
  if (__ldg(a.cu_seqlens_q + s + 1) - row != 1) return;
  const int ctx = __ldg(a.context_lens + s);
  const int n = (ctx + a.split_len - 1) / a.split_len;
  if (n <= 1) return;  // written directly by DecodeKernel
  const int d = a.head_dim;
  const int64_t base = (static_cast<int64_t>(s) * a.num_heads + h) * a.num_splits;
  __shared__ float s_w[kDecodeMaxSplits];
  __shared__ float s_inv;
  const int tid = threadIdx.x, lane = tid & 31;
  if (tid < 32) {
    float mx = -INFINITY;
    for (int i = lane; i < n; i += 32) mx = fmaxf(mx, a.part_ml[(base + i) * 2]);
    mx = WarpMax(mx);
    float sum = 0.0f;
    for (int i = lane; i < n; i += 32) {
      const float w = expf(a.part_ml[(base + i) * 2] - mx);
      s_w[i] = w;
      sum += w * a.part_ml[(base + i) * 2 + 1];
    }
    sum = WarpSum(sum);
    if (lane == 0) s_inv = 1.0f / sum;
  }
  __syncthreads();
  T* out = static_cast<T*>(a.out) + (static_cast<int64_t>(row) * a.num_heads + h) * d;
  for (int c = tid; c < d; c += kDecodeThreads) {
    float o = 0.0f;
    for (int i = 0; i < n; ++i) o = fmaf(s_w[i], a.part_out[(base + i) * d + c], o);
    out[c] = FromFloat<T>(o * s_inv);
  }
}

template <typename T>
void LaunchDecodeTyped(const DecodeArgs& a, int head_group, dim3 grid, cudaStream_t stream) {
  switch (head_group) {
    case 1: LaunchKernel(DecodeKernel<T, 1>, grid, dim3(kDecodeThreads), stream, a); break;
    case 2: LaunchKernel(DecodeKernel<T, 2>, grid, dim3(kDecodeThreads), stream, a); break;
    case 4: LaunchKernel(DecodeKernel<T, 4>, grid, dim3(kDecodeThreads), stream, a); break;
    case 8: LaunchKernel(DecodeKernel<T, 8>, grid, dim3(kDecodeThreads), stream, a); break;
    default: throw std::logic_error("cuda::Attention decode: head group not 1/2/4/8");
  }
  CheckLaunch("DecodeKernel");
  if (a.num_splits > 1) {
    LaunchKernel(DecodeReduceKernel<T>, dim3(grid.x, a.num_heads), dim3(kDecodeThreads), stream,
                 a);
    CheckLaunch("DecodeReduceKernel");
  }
}

}  // namespace

void LaunchDecode(const AttentionParams& p, const AttentionPlan& plan, void* workspace,
                  cudaStream_t stream) {
  DecodeArgs a;
  SetSharedArgs(p, a);
  a.head_chunks = plan.decode_head_chunks;
  a.head_dim = p.head_dim;
  a.tpk = plan.decode_keys_per_thread_group;
  a.log2_tpk = 0;
  while ((1 << a.log2_tpk) < a.tpk) ++a.log2_tpk;
  a.split_len = plan.decode_split_len;
  a.num_splits = plan.decode_splits;
  a.scale = p.scale;
  a.part_out = nullptr;
  a.part_ml = nullptr;
  if (a.num_splits > 1) {
    if (workspace == nullptr) throw std::logic_error("cuda::Attention decode: no workspace");
    a.part_out = static_cast<float*>(workspace);
    a.part_ml = a.part_out + static_cast<int64_t>(p.num_seqs) * p.num_heads * a.num_splits *
                                 p.head_dim;
  }
  const dim3 grid(static_cast<unsigned>(p.num_seqs),
                  static_cast<unsigned>(p.num_kv_heads * plan.decode_head_chunks),
                  static_cast<unsigned>(a.num_splits));
  switch (p.dtype) {
    case DType::kF32: LaunchDecodeTyped<float>(a, plan.decode_head_group, grid, stream); break;
    case DType::kF16: LaunchDecodeTyped<__half>(a, plan.decode_head_group, grid, stream); break;
    case DType::kBF16:
      LaunchDecodeTyped<__nv_bfloat16>(a, plan.decode_head_group, grid, stream);
      break;
    default:
      throw std::invalid_argument(std::string("cuda::Attention: unsupported dtype ") +
                                  DTypeName(p.dtype));
  }
}

}  // namespace infer::kernels::cuda::attn
