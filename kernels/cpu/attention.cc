// Reference attention over packed variable-length sequences, keys from a paged cache or from
// contiguous packed tensors. Softmax in float32, max-subtracted, like PyTorch's eager path (the
// row paths take exp from a polynomial within ~1e-7 relative). Three paths, by query rows:
//   - chunks of 16 or more queries (prefill): per (sequence, kv head), GEMMs over gathered K/V;
//   - single decode tokens without a probability capture: per (sequence, range of heads), one
//     pass over the sequence's cache blocks with an online softmax (DecodeHeads);
//   - the rest (short chunks, captures): per (sequence, head), one query row at a time, so
//     memory stays O(context).
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

// Address of key/value row `pos` of sequence `s` for kv head `kh`.
struct KvRows {
  const AttentionParams& p;
  int s;
  int64_t seq_start;  // packed-row start of sequence s (contiguous mode)

  const float* Row(const float* base_contig, const float* base_paged, int64_t pos,
                   int kh) const {
    const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
    if (p.block_tables != nullptr) {
      const int32_t block = p.block_tables[static_cast<int64_t>(s) * p.max_blocks_per_seq +
                                           pos / p.block_size];
      const int64_t slot = static_cast<int64_t>(block) * p.block_size + pos % p.block_size;
      return base_paged + slot * kv_row + static_cast<int64_t>(kh) * p.head_dim;
    }
    return base_contig + (seq_start + pos) * kv_row + static_cast<int64_t>(kh) * p.head_dim;
  }
  const float* K(int64_t pos, int kh) const {
    return Row(static_cast<const float*>(p.k), static_cast<const float*>(p.k_cache), pos, kh);
  }
  const float* V(int64_t pos, int kh) const {
    return Row(static_cast<const float*>(p.v), static_cast<const float*>(p.v_cache), pos, kh);
  }
};

// Long query chunks (prefill): gather the sequence's keys/values for one kv head into contiguous
// [ctx, d] buffers, then S = Q K^T and O = P V as SGEMMs, so prefill attention runs at GEMM speed
// instead of one dot product at a time.
constexpr int64_t kQueryTile = 64;

void AttentionGemm(const AttentionParams& p, int s, int kh) {
  const int d = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t q_row = static_cast<int64_t>(p.num_heads) * d;
  const int64_t q0 = p.cu_seqlens_q[s], q_len = p.cu_seqlens_q[s + 1] - q0;
  const int64_t ctx = p.context_lens[s];
  KvRows kv{p, s, q0};
  std::vector<float> k(ctx * d), v(ctx * d), scores(q_len * ctx);
  {
    for (int64_t j = 0; j < ctx; ++j) {
      std::copy(kv.K(j, kh), kv.K(j, kh) + d, k.begin() + j * d);
      std::copy(kv.V(j, kh), kv.V(j, kh) + d, v.begin() + j * d);
    }
    for (int h = kh * group; h < (kh + 1) * group; ++h) {
      // Causal chunks go in tiles of query rows so each tile multiplies only the keys it can
      // see (about half the work of the full square); bidirectional chunks are one tile.
      const int64_t tile = p.causal ? kQueryTile : q_len;
      for (int64_t t0 = 0; t0 < q_len; t0 += tile) {
        const int64_t rows = std::min(tile, q_len - t0);
        const int64_t keys = p.causal ? ctx - q_len + t0 + rows : ctx;
        const float* q = static_cast<const float*>(p.q) + (q0 + t0) * q_row + static_cast<int64_t>(h) * d;
        // scores[rows, keys] = scale * Q[rows, d] K[keys, d]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, d, p.scale, q, q_row,
                    k.data(), d, 0.0f, scores.data(), keys);
        for (int64_t i = 0; i < rows; ++i) {
          float* row = scores.data() + i * keys;
          const int64_t visible = p.causal ? ctx - q_len + t0 + i + 1 : ctx;
          const float mx = *std::max_element(row, row + visible);
          float denom = 0.0f;
          for (int64_t j = 0; j < visible; ++j) {
            row[j] = std::exp(row[j] - mx);
            denom += row[j];
          }
          const float inv = 1.0f / denom;
          for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
          std::fill(row + visible, row + keys, 0.0f);
        }
        float* o = static_cast<float*>(p.out) + (q0 + t0) * q_row + static_cast<int64_t>(h) * d;
        // O[rows, d] = P[rows, keys] V[keys, d]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, keys, 1.0f,
                    scores.data(), keys, v.data(), d, 0.0f, o, q_row);
        if (p.probs != nullptr) {
          float* dst = p.probs + p.probs_offsets[s] + (static_cast<int64_t>(h) * q_len + t0) * ctx;
          for (int64_t i = 0; i < rows; ++i) {
            std::copy(scores.begin() + i * keys, scores.begin() + (i + 1) * keys, dst + i * ctx);
            std::fill(dst + i * ctx + keys, dst + (i + 1) * ctx, 0.0f);
          }
        }
      }
    }
  }
}


// ---- One query row against its keys (decode steps, short chunks) -----------------------------
// A row's work is small (context x head_dim, twice), so what counts is the cost per key: dot
// products four keys at a time with one horizontal reduction for the four, the exponentials
// eight at a time, and the output row held in registers while the values stream past.

inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// exp(x) for max-subtracted scores (x <= 0), 8 lanes: x = n ln2 + r, |r| <= ln2/2, and a
// degree-6 polynomial (relative error ~1e-7; the approximation the GELUs in activation.cc use).
// Below -87 the result is exp(-87) ~ 1.6e-38 instead of a denormal or 0: no visible weight.
// A NaN stays NaN (max_ps returns its second operand when either is NaN).
inline __m256 Exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 poly = _mm256_set1_ps(1.9875691500e-4f);
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.3981999507e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(8.3334519073e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(4.1665795894e-2f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.6666665459e-1f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e =
      _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(poly, r), r, r), _mm256_set1_ps(1.0f));
  const __m256i scale = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(e, _mm256_castsi256_ps(scale));
}

inline float Exp1(float x) { return _mm256_cvtss_f32(Exp8(_mm256_set1_ps(x))); }

// Walks the key (or value) rows of one sequence and kv head in position order, without a division
// per row: rows of a cache block are kv_row floats apart; a new block comes from the block table.
// Entering a block prefetches the next block's rows, whose address the table gives early.
class RowCursor {
 public:
  RowCursor(const KvRows& kv, const float* contig, const float* paged, int kh)
      : kv_row_(static_cast<int64_t>(kv.p.num_kv_heads) * kv.p.head_dim),
        head_off_(static_cast<int64_t>(kh) * kv.p.head_dim),
        line_count_((kv.p.head_dim * 4 + 63) / 64),
        paged_(kv.p.block_tables != nullptr) {
    if (paged_) {
      base_ = paged;
      table_ = kv.p.block_tables + static_cast<int64_t>(kv.s) * kv.p.max_blocks_per_seq;
      block_size_ = kv.p.block_size;
      EnterBlock(0);
    } else {
      row_ = contig + kv.seq_start * kv_row_ + head_off_;
    }
  }
  const float* row() const { return row_; }
  void Next() {
    if (paged_ && ++offset_ == block_size_) {
      EnterBlock(block_ + 1);
    } else {
      row_ += kv_row_;
    }
  }
  // Prefetches the next block's rows (stops at the sequence's last block: `blocks` of them).
  void PrefetchNextBlock(int64_t blocks) const {
    if (!paged_ || block_ + 1 >= blocks) return;
    const float* r = BlockRow(block_ + 1);
    for (int i = 0; i < block_size_; ++i, r += kv_row_) {
      for (int l = 0; l < line_count_; ++l) {
        _mm_prefetch(reinterpret_cast<const char*>(r) + 64 * l, _MM_HINT_T0);
      }
    }
  }
  bool at_block_start() const { return paged_ && offset_ == 0; }

 private:
  const float* BlockRow(int64_t b) const {
    return base_ + static_cast<int64_t>(table_[b]) * block_size_ * kv_row_ + head_off_;
  }
  void EnterBlock(int64_t b) {
    block_ = b;
    offset_ = 0;
    row_ = BlockRow(b);
  }

  const int64_t kv_row_, head_off_;
  const int line_count_;
  const bool paged_;
  const float* base_ = nullptr;
  const int32_t* table_ = nullptr;
  int block_size_ = 0;
  int64_t block_ = 0;
  int offset_ = 0;
  const float* row_ = nullptr;
};

int64_t BlocksOf(const KvRows& kv, int64_t visible) {
  return kv.p.block_tables ? (visible + kv.p.block_size - 1) / kv.p.block_size : 0;
}

// q . k over d elements.
inline float Dot(const float* q, const float* k, int d) {
  __m256 acc = _mm256_setzero_ps();
  int c = 0;
  for (; c + 8 <= d; c += 8) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(k + c), acc);
  }
  float s = HorizontalSum(acc);
  for (; c < d; ++c) s += q[c] * k[c];
  return s;
}

// scores[j] = scale * q . K(j) for j < visible; returns the largest.
float RowScores(const float* q, const KvRows& kv, int kh, int64_t visible, int d, float scale,
                float* scores) {
  if (visible <= 0) return -std::numeric_limits<float>::infinity();
  const int d8 = d & ~7;
  const int64_t blocks = BlocksOf(kv, visible);
  RowCursor cur(kv, static_cast<const float*>(kv.p.k), static_cast<const float*>(kv.p.k_cache),
                kh);
  __m128 vmax = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + 4 <= visible; j += 4) {
    const float* k[4];
    for (int t = 0; t < 4; ++t) {
      if (cur.at_block_start()) cur.PrefetchNextBlock(blocks);
      k[t] = cur.row();
      cur.Next();
    }
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < d8; c += 8) {
      const __m256 qv = _mm256_loadu_ps(q + c);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[0] + c), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[1] + c), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[2] + c), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[3] + c), a3);
    }
    // The four horizontal sums at once: pairwise adds within 128-bit lanes, then the two lanes.
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    if (d8 < d) {
      alignas(16) float tail[4] = {0, 0, 0, 0};
      for (int t = 0; t < 4; ++t) {
        for (int c = d8; c < d; ++c) tail[t] += q[c] * k[t][c];
      }
      sum4 = _mm_add_ps(sum4, _mm_load_ps(tail));
    }
    sum4 = _mm_mul_ps(sum4, _mm_set1_ps(scale));
    _mm_storeu_ps(scores + j, sum4);
    vmax = _mm_max_ps(vmax, sum4);
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, vmax);
  float max_score = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (; j < visible; ++j) {
    scores[j] = Dot(q, cur.row(), d) * scale;
    cur.Next();
    max_score = std::max(max_score, scores[j]);
  }
  return max_score;
}

// scores[j] = exp(scores[j] - max) / sum_j exp(scores[j] - max) for j < n.
void SoftmaxInPlace(float* scores, int64_t n, float max_score) {
  const __m256 m = _mm256_set1_ps(max_score);
  __m256 vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), m));
    _mm256_storeu_ps(scores + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float denom = HorizontalSum(vsum);
  for (; j < n; ++j) {
    scores[j] = Exp1(scores[j] - max_score);
    denom += scores[j];
  }
  const float inv = 1.0f / denom;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (j = 0; j + 8 <= n; j += 8) {
    _mm256_storeu_ps(scores + j, _mm256_mul_ps(_mm256_loadu_ps(scores + j), vinv));
  }
  for (; j < n; ++j) scores[j] *= inv;
}

// o[0, d) = sum_j probs[j] V(j): 64 output columns at a time held in registers (one pass over
// the values for GPT-2's heads), the last d % 8 columns in scalar.
void RowValues(const float* probs, const KvRows& kv, int kh, int64_t visible, int d, float* o) {
  if (visible <= 0) {
    std::fill(o, o + d, 0.0f);
    return;
  }
  const int64_t blocks = BlocksOf(kv, visible);
  const float* v_contig = static_cast<const float*>(kv.p.v);
  const float* v_paged = static_cast<const float*>(kv.p.v_cache);
  int c0 = 0;
  for (; c0 + 8 <= d; c0 += 64) {
    const int vecs = std::min(8, (d - c0) / 8);  // 8-column vectors in this chunk
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    RowCursor cur(kv, v_contig, v_paged, kh);
    for (int64_t j = 0; j < visible; ++j) {
      if (c0 == 0 && cur.at_block_start()) cur.PrefetchNextBlock(blocks);
      const float* v = cur.row() + c0;
      const __m256 w = _mm256_set1_ps(probs[j]);
      if (vecs == 8) {  // the common case, unrolled: a whole 64-column chunk
        for (int t = 0; t < 8; ++t) {
          acc[t] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * t), acc[t]);
        }
      } else {
        for (int t = 0; t < vecs; ++t) {
          acc[t] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * t), acc[t]);
        }
      }
      cur.Next();
    }
    for (int t = 0; t < vecs; ++t) _mm256_storeu_ps(o + c0 + 8 * t, acc[t]);
    if (vecs < 8) {
      c0 += 8 * vecs;
      break;
    }
  }
  if (c0 < d) {
    std::fill(o + c0, o + d, 0.0f);
    RowCursor cur(kv, v_contig, v_paged, kh);
    for (int64_t j = 0; j < visible; ++j) {
      const float* v = cur.row();
      const float w = probs[j];
      for (int c = c0; c < d; ++c) o[c] += w * v[c];
      cur.Next();
    }
  }
}

// ---- One decode token of a sequence, all its heads in one pass over the cache --------------
// A decode step's attention reads every cached key and value of every running sequence once
// (16 sequences of ~100 tokens: ~110 MB per GPT-2 step, a fifth of the weights' bytes). Walking
// the cache block by block, with each head's scores, an online-softmax update (running max and
// sum; the output rescaled when the max grows) and the block's values done while the block is in
// cache, reads it once, in order, the next block prefetched meanwhile; the per-head path above
// reads it head_dim floats at a time, scattered, once per head. Used for q_len == 1 without a
// probability capture, head_dim a multiple of 8.

struct HeadState {
  float max;  // running max of the scores seen
  float sum;  // running sum of exp(score - max)
};

// Heads [h0, h1) of sequence s's single query row.
void DecodeHeads(const AttentionParams& p, int s, int h0, int h1, std::vector<float>& acc,
                 std::vector<HeadState>& state) {
  const int d = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t q_row = static_cast<int64_t>(p.num_heads) * d;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * d;
  const int64_t q0 = p.cu_seqlens_q[s];
  const int64_t ctx = p.context_lens[s];  // all visible to the last (only) query
  const float* q = static_cast<const float*>(p.q) + q0 * q_row;
  float* out = static_cast<float*>(p.out) + q0 * q_row;
  const int heads = h1 - h0;
  acc.assign(static_cast<size_t>(heads) * d, 0.0f);
  state.assign(heads, HeadState{-std::numeric_limits<float>::infinity(), 0.0f});
  const bool paged = p.block_tables != nullptr;
  const int run_len = paged ? p.block_size : 16;
  const int32_t* table =
      paged ? p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq : nullptr;
  const float* k_base = paged ? static_cast<const float*>(p.k_cache)
                              : static_cast<const float*>(p.k) + q0 * kv_row;
  const float* v_base = paged ? static_cast<const float*>(p.v_cache)
                              : static_cast<const float*>(p.v) + q0 * kv_row;
  // First row of run r (block r when paged); rows of a run are kv_row floats apart.
  auto run_offset = [&](int64_t r) -> int64_t {
    return paged ? static_cast<int64_t>(table[r]) * p.block_size * kv_row : r * run_len * kv_row;
  };
  const int lines = (d * 4 + 63) / 64;
  alignas(32) float scores[64];  // run_len <= 64 (checked by the caller)
  const int64_t runs = (ctx + run_len - 1) / run_len;
  for (int64_t r = 0; r < runs; ++r) {
    const int nk = static_cast<int>(std::min<int64_t>(run_len, ctx - r * run_len));
    const float* kr = k_base + run_offset(r);
    const float* vr = v_base + run_offset(r);
    const float* kn = r + 1 < runs ? k_base + run_offset(r + 1) : nullptr;
    const float* vn = r + 1 < runs ? v_base + run_offset(r + 1) : nullptr;
    for (int h = h0; h < h1; ++h) {
      const int64_t col = static_cast<int64_t>(h / group) * d;
      // This head's slice of the next run is prefetched row by row as this run's rows are used
      // (key t's row of the next run with key t's scores and value t's with value t), a few
      // lines at a time rather than in one burst.
      auto prefetch_row = [&](const float* next_run, int t) {
        if (next_run == nullptr || t >= run_len) return;
        const char* row = reinterpret_cast<const char*>(next_run + t * kv_row + col);
        for (int l = 0; l < lines; ++l) _mm_prefetch(row + 64 * l, _MM_HINT_T0);
      };
      const float* qh = q + static_cast<int64_t>(h) * d;
      // Scores of the run's keys, four at a time.
      __m128 vmax = _mm_set1_ps(-std::numeric_limits<float>::infinity());
      int t = 0;
      for (; t + 4 <= nk; t += 4) {
        const float* k0 = kr + t * kv_row + col;
        for (int u = 0; u < 4; ++u) prefetch_row(kn, t + u);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < d; c += 8) {
          const __m256 qv = _mm256_loadu_ps(qh + c);
          a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + c), a0);
          a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + kv_row + c), a1);
          a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * kv_row + c), a2);
          a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * kv_row + c), a3);
        }
        const __m256 hs = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        const __m128 s4 = _mm_mul_ps(
            _mm_add_ps(_mm256_castps256_ps128(hs), _mm256_extractf128_ps(hs, 1)),
            _mm_set1_ps(p.scale));
        _mm_store_ps(scores + t, s4);
        vmax = _mm_max_ps(vmax, s4);
      }
      alignas(16) float lanes[4];
      _mm_store_ps(lanes, vmax);
      float run_max = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
      for (; t < nk; ++t) {
        prefetch_row(kn, t);
        scores[t] = Dot(qh, kr + t * kv_row + col, d) * p.scale;
        run_max = std::max(run_max, scores[t]);
      }
      // Online softmax: rescale what was accumulated when the max grows.
      HeadState& st = state[h - h0];
      const float new_max = std::max(st.max, run_max);
      const float alpha = r == 0 ? 0.0f : Exp1(st.max - new_max);
      float run_sum = 0.0f;
      for (t = 0; t + 8 <= nk; t += 8) {
        const __m256 e =
            Exp8(_mm256_sub_ps(_mm256_load_ps(scores + t), _mm256_set1_ps(new_max)));
        _mm256_store_ps(scores + t, e);
        run_sum += HorizontalSum(e);
      }
      for (; t < nk; ++t) {
        scores[t] = Exp1(scores[t] - new_max);
        run_sum += scores[t];
      }
      st.sum = st.sum * alpha + run_sum;
      st.max = new_max;
      // acc = acc * alpha + sum_t p_t V_t, 64 columns at a time in registers.
      float* a = acc.data() + static_cast<size_t>(h - h0) * d;
      const __m256 va = _mm256_set1_ps(alpha);
      for (int c0 = 0; c0 < d; c0 += 64) {
        const int vecs = std::min(8, (d - c0) / 8);
        __m256 o[8];
        for (int u = 0; u < vecs; ++u) o[u] = _mm256_mul_ps(_mm256_loadu_ps(a + c0 + 8 * u), va);
        const float* v0 = vr + col + c0;
        for (t = 0; t < nk; ++t) {
          if (c0 == 0) prefetch_row(vn, t);
          const __m256 w = _mm256_set1_ps(scores[t]);
          const float* v = v0 + t * kv_row;
          for (int u = 0; u < vecs; ++u) {
            o[u] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * u), o[u]);
          }
        }
        for (int u = 0; u < vecs; ++u) _mm256_storeu_ps(a + c0 + 8 * u, o[u]);
      }
    }
  }
  for (int h = h0; h < h1; ++h) {
    const float inv = 1.0f / state[h - h0].sum;
    const float* a = acc.data() + static_cast<size_t>(h - h0) * d;
    float* o = out + static_cast<int64_t>(h) * d;
    for (int c = 0; c < d; ++c) o[c] = a[c] * inv;
  }
}

constexpr int64_t kGemmMinQueries = 16;

}  // namespace

void Attention(const AttentionParams& p) {
  // Prefill-sized chunks go through GEMMs, one sequence at a time; decode tokens through
  // DecodeHeads; the rest through the per-row loop below, parallel over (sequence, head).
  // GEMM chunks: one task per (sequence, kv head), run in parallel: with the OpenMP build of
  // OpenBLAS each GEMM inside the parallel region runs on its calling thread, so small per-head
  // GEMMs (encoder batches, head_dim 32) do not pay a thread fork each.
  std::vector<char> done(p.num_seqs, 0);
  std::vector<std::pair<int, int>> gemm_tasks;
  for (int s = 0; s < p.num_seqs; ++s) {
    if (p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s] >= kGemmMinQueries) {
      done[s] = 1;
      for (int kh = 0; kh < p.num_kv_heads; ++kh) gemm_tasks.emplace_back(s, kh);
    }
  }
#pragma omp parallel for schedule(dynamic, 1) if (!gemm_tasks.empty())
  for (size_t t = 0; t < gemm_tasks.size(); ++t) {
    AttentionGemm(p, gemm_tasks[t].first, gemm_tasks[t].second);
  }
  // Decode tokens (one query row) without a probability capture: every head of the row in one
  // pass over the sequence's cache blocks (DecodeHeads). Tasks are (sequence, range of heads),
  // with the heads split so that even one sequence (batch-1 decode) keeps every thread busy.
  const bool fast_decode = p.probs == nullptr && p.head_dim % 8 == 0 &&
                           (p.block_tables == nullptr || p.block_size <= 64);
  std::vector<std::pair<int, int>> decode_tasks;  // (sequence, head range index)
  const int threads = omp_get_max_threads();
  const int splits = std::clamp((4 * threads + p.num_seqs - 1) / std::max(p.num_seqs, 1), 1,
                                p.num_heads);
  if (fast_decode) {
    for (int s = 0; s < p.num_seqs; ++s) {
      if (done[s] || p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s] != 1) continue;
      done[s] = 1;
      for (int g = 0; g < splits; ++g) decode_tasks.emplace_back(s, g);
    }
  }
#pragma omp parallel if (!decode_tasks.empty())
  {
    std::vector<float> acc;
    std::vector<HeadState> state;
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < decode_tasks.size(); ++t) {
      const int g = decode_tasks[t].second;
      const int h0 = p.num_heads * g / splits, h1 = p.num_heads * (g + 1) / splits;
      if (h0 < h1) DecodeHeads(p, decode_tasks[t].first, h0, h1, acc, state);
    }
  }
  const int d = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t q_row = static_cast<int64_t>(p.num_heads) * d;
  const int tasks = p.num_seqs * p.num_heads;
  const bool rows_left = std::find(done.begin(), done.end(), 0) != done.end();
#pragma omp parallel if (rows_left)
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 1)
    for (int task = 0; task < tasks; ++task) {
      const int s = task / p.num_heads, h = task % p.num_heads, kh = h / group;
      if (done[s]) continue;
      const int64_t q0 = p.cu_seqlens_q[s], q_len = p.cu_seqlens_q[s + 1] - q0;
      const int64_t ctx = p.context_lens[s];
      KvRows kv{p, s, q0};
      scores.resize(std::max<int64_t>(ctx, 1));
      for (int64_t i = 0; i < q_len; ++i) {
        const float* q = static_cast<const float*>(p.q) + (q0 + i) * q_row + static_cast<int64_t>(h) * d;
        // Keys visible to this query: all of them, or up to its own absolute position.
        const int64_t visible = p.causal ? ctx - q_len + i + 1 : ctx;
        const float max_score = RowScores(q, kv, kh, visible, d, p.scale, scores.data());
        SoftmaxInPlace(scores.data(), visible, max_score);
        float* o = static_cast<float*>(p.out) + (q0 + i) * q_row + static_cast<int64_t>(h) * d;
        RowValues(scores.data(), kv, kh, visible, d, o);
        if (p.probs != nullptr) {
          float* row = p.probs + p.probs_offsets[s] + (static_cast<int64_t>(h) * q_len + i) * ctx;
          std::copy(scores.begin(), scores.begin() + visible, row);
          std::fill(row + visible, row + ctx, 0.0f);
        }
      }
    }
  }
}

}  // namespace infer::kernels::cpu
