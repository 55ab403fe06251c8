// Prefill attention on tensor cores, FlashAttention-2 style: tiled over queries and keys with an
// online softmax, mma.sync.m16n8k16 (F16/BF16 inputs, float32 accumulation) fed by ldmatrix,
// cp.async loads. Packed variable-length batches; keys/values from the paged cache (gathered row
// by row through the block table, so a key tile may cross any number of blocks of any size) or
// from contiguous k/v; causal (with the query chunk at the end of its context) or bidirectional.
//
// CTA: 128 threads = 4 warps, one (query tile of 64 rows, head, sequence). Warp w owns query
// rows [16w, 16w + 16) of the tile and keeps their Q fragments in registers for the whole loop.
// Key tiles of 64 keys; per tile: S = Q K^T (16 x 64 per warp, 8 MMA n-blocks), mask, online
// softmax in the log2 domain (exp2f of score * scale * log2(e) - running max), P converted to
// 16-bit in registers (the S accumulator layout is the A-operand layout), O += P V (V read with
// ldmatrix.trans).
// Shared memory: Q, K, V tiles of [64][head_dim] 16-bit elements (48 KB at head_dim 128), rows
// XOR-swizzled in 16-byte chunks so ldmatrix and cp.async are free of bank conflicts. Pipeline
// (FA2's): V_j loads while S_j = Q K_j^T runs; K_{j+1} loads while softmax_j and P_j V_j run.
// Causal: key tiles past the tile's last visible key are never visited; only tiles that cross
// the diagonal or the context end are masked element by element.
//
// Grid: x = "virtual tiles", y = heads. Sequence s owns virtual tiles [s + cu[s]/64, s + 1 +
// cu[s+1]/64), at least ceil(q_len/64) of them, so a CTA finds its sequence with a binary search
// over cu_seqlens_q (device memory) and the host sizes the grid from cu_seqlens_q_host alone;
// surplus tiles exit at once. x runs backwards so the heaviest causal tiles start first.
#include "kernels/cuda/attention_common.cuh"

namespace infer::kernels::cuda::attn {
namespace {

constexpr int kThreads = 128;
constexpr int kBM = kPrefillBlockM;  // query rows per CTA
constexpr int kBN = kPrefillBlockN;  // keys per tile

struct PrefillArgs {
  const void* q;   // [total_q, num_heads, head_dim]
  void* out;       // [total_q, num_heads, head_dim]
  const void* k;   // [total_q, num_kv_heads, head_dim] or the paged cache
  const void* v;   //   [num_blocks, block_size, num_kv_heads, head_dim]
  KvLayout kv;
  const int32_t* cu_seqlens_q;  // [num_seqs + 1]
  const int32_t* context_lens;  // [num_seqs]
  int num_seqs;
  int num_heads;
  int group;         // num_heads / num_kv_heads
  float scale_log2;  // scale * log2(e)
  bool causal;
  bool skip_single_rows;  // q_len == 1 sequences are done by the decode kernel
};

// A [64][HD] tile in shared memory: row r, 16-byte chunk c lives at chunk Swz(r, c) of the row.
// Eight consecutive rows read at the same logical chunk (one ldmatrix 8x8 matrix) land in eight
// different 16-byte bank groups.
template <int HD>
struct TileLayout {
  static constexpr int kChunks = HD / 8;                 // 16-byte chunks per row
  static constexpr int kRowsPerPass = kThreads / kChunks;  // rows one pass of the CTA loads
  static constexpr int kPasses = 64 / kRowsPerPass;      // passes per 64-row tile
  static_assert(kChunks >= 4 && kChunks <= 16 && 64 % kRowsPerPass == 0, "head_dim 32..128");

  __device__ __forceinline__ static int Swz(int r, int c) {
    if constexpr (kChunks >= 8) {
      return c ^ (r & 7);
    } else {
      // Rows shorter than 128 bytes: 8 / kChunks rows share one 128-byte bank window.
      return c ^ ((r / (8 / kChunks)) & (kChunks - 1));
    }
  }
  // Element offset of (row r, chunk c) in the tile.
  __device__ __forceinline__ static int Off(int r, int c) { return r * HD + Swz(r, c) * 8; }
};

// Copies this thread's chunks of a key or value tile (rows given by slot, -1: zero-fill).
template <int HD, int N>
__device__ __forceinline__ void IssueKvTile(SmemAddrT dst, const void* base_v, const KvLayout& kv,
                                            int kh, const int32_t (&row_slot)[N], int ld_row,
                                            int ld_c) {
  using L = TileLayout<HD>;
  const char* base = static_cast<const char*>(base_v);
#pragma unroll
  for (int p = 0; p < L::kPasses; ++p) {
    const int r = ld_row + p * L::kRowsPerPass;
    const bool valid = row_slot[p] >= 0;
    const char* src = valid ? base + (kv.Offset(row_slot[p], kh) + ld_c * 8) * 2 : base;
    CpAsync16(dst + L::Off(r, ld_c) * 2, src, valid);
  }
}

template <typename T, int HD>
__global__ void __launch_bounds__(kThreads, 3) PrefillKernel(const PrefillArgs a) {
  using L = TileLayout<HD>;
  constexpr int KS = HD / 16;   // k-steps of S = Q K^T
  constexpr int NB = kBN / 8;   // n-blocks of S (8 keys each)
  constexpr int OB = HD / 8;    // n-blocks of O (8 dims each)

  // Sequence and query tile of this CTA.
  const int b = gridDim.x - 1 - blockIdx.x;
  const int h = blockIdx.y;
  int s;
  {
    int lo = 0, hi = a.num_seqs - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) >> 1;
      if (mid + __ldg(a.cu_seqlens_q + mid) / kBM <= b) lo = mid; else hi = mid - 1;
    }
    s = lo;
  }
  const int q0 = __ldg(a.cu_seqlens_q + s);
  const int q_len = __ldg(a.cu_seqlens_q + s + 1) - q0;
  const int m0 = (b - (s + q0 / kBM)) * kBM;  // first query row of the tile within the chunk
  if (m0 >= q_len) return;
  if (a.skip_single_rows && q_len == 1) return;
  const int ctx = __ldg(a.context_lens + s);
  const int kh = h / a.group;
  const int diag = ctx - q_len;  // causal: query i sees keys [0, diag + i]
  const int n_end = a.causal ? min(ctx, diag + m0 + kBM) : ctx;
  const int num_tiles = n_end > 0 ? (n_end + kBN - 1) / kBN : 0;

  __shared__ __align__(128) T sQ[kBM * HD];
  __shared__ __align__(128) T sK[kBN * HD];
  __shared__ __align__(128) T sV[kBN * HD];
  const SmemAddrT sQa = SmemAddr(sQ), sKa = SmemAddr(sK), sVa = SmemAddr(sV);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int ld_row = tid / L::kChunks;  // first tile row this thread copies
  const int ld_c = tid % L::kChunks;    // the 16-byte chunk it copies in each of its rows
  const T* qg = static_cast<const T*>(a.q);

  // Q tile (zeros past the chunk's last row) and K tile 0, one cp.async group.
#pragma unroll
  for (int p = 0; p < L::kPasses; ++p) {
    const int r = ld_row + p * L::kRowsPerPass;
    const bool valid = m0 + r < q_len;
    const T* src =
        valid ? qg + (static_cast<int64_t>(q0 + m0 + r) * a.num_heads + h) * HD + ld_c * 8 : qg;
    CpAsync16(sQa + L::Off(r, ld_c) * 2, src, valid);
  }
  // Slots (row index in [*, num_kv_heads, head_dim] units) of this thread's key rows in the
  // current key tile; -1 past the context (zero-filled, so garbage or NaN beyond the context
  // never reaches the MMAs).
  int32_t row_slot[L::kPasses];
  auto key_rows = [&](int n0) {
#pragma unroll
    for (int p = 0; p < L::kPasses; ++p) {
      const int pos = n0 + ld_row + p * L::kRowsPerPass;
      row_slot[p] = pos < ctx ? static_cast<int32_t>(a.kv.Slot(s, q0, pos)) : -1;
    }
  };
  if (num_tiles > 0) {
    key_rows(0);
    IssueKvTile<HD>(sKa, a.k, a.kv, kh, row_slot, ld_row, ld_c);
  }
  CpAsyncCommit();

  // Q fragments: kept in registers for the whole loop at head_dim <= 64; at 128 they would cost
  // 32 more registers (2 instead of 3 CTAs per SM), so they are re-read from sQ per key tile as
  // FlashAttention-2 does (4 KB of ldmatrix per warp and tile, next to 32 KB for K and V).
  constexpr bool kQInRegs = HD <= 64;
  uint32_t qa[kQInRegs ? KS : 1][4];
  const int q_ld_row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;  // A-operand matrices
  float o[OB][4];
#pragma unroll
  for (int ob = 0; ob < OB; ++ob)
#pragma unroll
    for (int c = 0; c < 4; ++c) o[ob][c] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};  // running max (log2 domain) of rows g and g + 8
  float l_run[2] = {0.0f, 0.0f};            // this lane's part of the running sums
  const int r_lo = warp * 16 + (lane >> 2);  // tile row of accumulator elements 0, 1 (+8: 2, 3)

  for (int j = 0; j < num_tiles; ++j) {
    const int n0 = j * kBN;
    CpAsyncWaitAll();
    __syncthreads();  // K_j (and Q) landed; every warp is done with V_{j-1}
    if constexpr (kQInRegs) {
      if (j == 0) {
#pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
          LdMatrixX4(qa[ks], sQa + L::Off(q_ld_row, ks * 2 + (lane >> 4)) * 2);
        }
      }
    }
    IssueKvTile<HD>(sVa, a.v, a.kv, kh, row_slot, ld_row, ld_c);
    CpAsyncCommit();
    // The next key tile's rows: its block-table reads are in flight during S = Q K_j^T.
    if (j + 1 < num_tiles) key_rows(n0 + kBN);

    // S = Q K_j^T: n-block nb holds keys n0 + 8nb .. n0 + 8nb + 7.
    float sacc[NB][4];
#pragma unroll
    for (int nb = 0; nb < NB; ++nb)
#pragma unroll
      for (int c = 0; c < 4; ++c) sacc[nb][c] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      // Matrices: rows +0/+8 ((lane >> 3) & 1) x dims +0/+8 (lane >> 4) -> a0..a3.
      uint32_t qf[4];
      if constexpr (kQInRegs) {
#pragma unroll
        for (int i = 0; i < 4; ++i) qf[i] = qa[ks][i];
      } else {
        LdMatrixX4(qf, sQa + L::Off(q_ld_row, ks * 2 + (lane >> 4)) * 2);
      }
#pragma unroll
      for (int pp = 0; pp < NB / 2; ++pp) {
        // Matrices: keys +0/+8 (lane >> 4) x dims +0/+8 ((lane >> 3) & 1) -> b0, b1 of n-block
        // 2pp, then b0, b1 of n-block 2pp + 1.
        const int key = pp * 16 + (lane & 7) + (lane >> 4) * 8;
        const int c = ks * 2 + ((lane >> 3) & 1);
        uint32_t kb[4];
        LdMatrixX4(kb, sKa + L::Off(key, c) * 2);
        Mma<T>(sacc[2 * pp], qf, kb[0], kb[1]);
        Mma<T>(sacc[2 * pp + 1], qf, kb[2], kb[3]);
      }
    }
    CpAsyncWaitAll();
    __syncthreads();  // V_j landed; every warp is done with K_j
    if (j + 1 < num_tiles) {
      IssueKvTile<HD>(sKa, a.k, a.kv, kh, row_slot, ld_row, ld_c);
      CpAsyncCommit();
    }

    // Mask (only tiles crossing the diagonal or the context end), online softmax.
    const bool need_mask = n0 + kBN > ctx || (a.causal && n0 + kBN - 1 > diag + m0);
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float x = sacc[nb][c] * a.scale_log2;
        if (need_mask) {
          const int key = n0 + nb * 8 + (lane & 3) * 2 + (c & 1);
          const int i = m0 + r_lo + (c >> 1) * 8;
          if (key >= ctx || (a.causal && key > diag + i)) x = -INFINITY;
        }
        sacc[nb][c] = x;
        mx[c >> 1] = fmaxf(mx[c >> 1], x);
      }
    }
    float m_use[2], corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m_run[r], mx[r]);
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  // a row with no visible key yet: p = 0
      corr[r] = exp2f(m_run[r] - m_use[r]);          // 0 while m_run is -inf
      m_run[r] = m_new;
    }
    float rs[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float pv = exp2f(sacc[nb][c] - m_use[c >> 1]);
        sacc[nb][c] = pv;
        rs[c >> 1] += pv;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l_run[r] = l_run[r] * corr[r] + rs[r];
#pragma unroll
    for (int ob = 0; ob < OB; ++ob)
#pragma unroll
      for (int c = 0; c < 4; ++c) o[ob][c] *= corr[c >> 1];

    // O += P V_j: k-step t covers keys 16t..16t+15 = S n-blocks 2t and 2t + 1.
#pragma unroll
    for (int t = 0; t < kBN / 16; ++t) {
      uint32_t pa[4];
      pa[0] = Pack2<T>(sacc[2 * t][0], sacc[2 * t][1]);
      pa[1] = Pack2<T>(sacc[2 * t][2], sacc[2 * t][3]);
      pa[2] = Pack2<T>(sacc[2 * t + 1][0], sacc[2 * t + 1][1]);
      pa[3] = Pack2<T>(sacc[2 * t + 1][2], sacc[2 * t + 1][3]);
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        // Transposed matrices: keys +0/+8 ((lane >> 3) & 1) x dims +0/+8 (lane >> 4) -> b0, b1
        // of n-block 2dp, then b0, b1 of n-block 2dp + 1.
        const int key = t * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int c = dp * 2 + (lane >> 4);
        uint32_t vb[4];
        LdMatrixX4Trans(vb, sVa + L::Off(key, c) * 2);
        Mma<T>(o[2 * dp], pa, vb[0], vb[1]);
        Mma<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
      }
    }
  }
  CpAsyncWaitAll();  // nothing in flight when num_tiles == 0 either

  // Normalise, stage this warp's 16 rows in its own rows of sQ (only this warp read them), then
  // write whole 16-byte chunks of the rows that exist.
  __syncwarp();
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
  }
#pragma unroll
  for (int ob = 0; ob < OB; ++ob) {
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int r = r_lo + hr * 8;
      const uint32_t packed = Pack2<T>(o[ob][2 * hr] * inv[hr], o[ob][2 * hr + 1] * inv[hr]);
      *reinterpret_cast<uint32_t*>(sQ + L::Off(r, ob) + (lane & 3) * 2) = packed;
    }
  }
  __syncwarp();
  T* outg = static_cast<T*>(a.out);
#pragma unroll
  for (int idx = lane; idx < 16 * L::kChunks; idx += 32) {
    const int r = warp * 16 + idx / L::kChunks;
    const int c = idx % L::kChunks;
    const int i = m0 + r;
    if (i < q_len) {
      *reinterpret_cast<uint4*>(outg + (static_cast<int64_t>(q0 + i) * a.num_heads + h) * HD +
                                c * 8) = *reinterpret_cast<const uint4*>(sQ + L::Off(r, c));
    }
  }
}

template <typename T>
void LaunchPrefillTyped(const PrefillArgs& a, int head_dim, dim3 grid, cudaStream_t stream) {
  switch (head_dim) {
    case 32: LaunchKernel(PrefillKernel<T, 32>, grid, dim3(kThreads), stream, a); break;
    case 64: LaunchKernel(PrefillKernel<T, 64>, grid, dim3(kThreads), stream, a); break;
    case 128: LaunchKernel(PrefillKernel<T, 128>, grid, dim3(kThreads), stream, a); break;
    default: throw std::logic_error("cuda::Attention prefill: head_dim not 32/64/128");
  }
  CheckLaunch("PrefillKernel");
}

}  // namespace

void LaunchPrefill(const AttentionParams& p, const AttentionPlan& plan, bool skip_single_rows,
                   cudaStream_t stream) {
  PrefillArgs a;
  SetSharedArgs(p, a);
  a.num_seqs = p.num_seqs;
  a.scale_log2 = p.scale * 1.4426950408889634f;
  a.causal = p.causal;
  a.skip_single_rows = skip_single_rows;
  const dim3 grid(static_cast<unsigned>(plan.prefill_virtual_tiles),
                  static_cast<unsigned>(p.num_heads));
  switch (p.dtype) {
    case DType::kF16: LaunchPrefillTyped<__half>(a, p.head_dim, grid, stream); break;
    case DType::kBF16: LaunchPrefillTyped<__nv_bfloat16>(a, p.head_dim, grid, stream); break;
    default: throw std::logic_error("cuda::Attention prefill: dtype not F16/BF16");
  }
}

}  // namespace infer::kernels::cuda::attn
