// Reference attention over packed variable-length sequences, keys from a paged cache or from
// contiguous packed tensors. One task per (sequence, head); scores for one query row at a time
// so memory stays O(context). Exact softmax in float32 (max-subtracted), like PyTorch's eager path.
#include <cblas.h>

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

constexpr int64_t kGemmMinQueries = 16;

}  // namespace

void Attention(const AttentionParams& p) {
  // Prefill-sized chunks go through GEMMs, one sequence at a time; the rest (decode tokens,
  // short chunks) through the per-row loop below, parallel over (sequence, head).
  // One task per (sequence, kv head), run in parallel: with the OpenMP build of OpenBLAS each
  // GEMM inside the parallel region runs on its calling thread, so small per-head GEMMs
  // (encoder batches, head_dim 32) do not pay a thread fork each.
  std::vector<char> done(p.num_seqs, 0);
  std::vector<std::pair<int, int>> gemm_tasks;
  for (int s = 0; s < p.num_seqs; ++s) {
    if (p.cu_seqlens_q[s + 1] - p.cu_seqlens_q[s] >= kGemmMinQueries) {
      done[s] = 1;
      for (int kh = 0; kh < p.num_kv_heads; ++kh) gemm_tasks.emplace_back(s, kh);
    }
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t t = 0; t < gemm_tasks.size(); ++t) {
    AttentionGemm(p, gemm_tasks[t].first, gemm_tasks[t].second);
  }
  const int d = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t q_row = static_cast<int64_t>(p.num_heads) * d;
  const int tasks = p.num_seqs * p.num_heads;
#pragma omp parallel
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
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          const float* k = kv.K(j, kh);
          float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
          for (int c = 0; c < d; ++c) dot += q[c] * k[c];
          scores[j] = dot * p.scale;
          max_score = std::max(max_score, scores[j]);
        }
        float denom = 0.0f;
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          denom += scores[j];
        }
        const float inv = 1.0f / denom;
        float* o = static_cast<float*>(p.out) + (q0 + i) * q_row + static_cast<int64_t>(h) * d;
        std::fill(o, o + d, 0.0f);
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] *= inv;
          const float* v = kv.V(j, kh);
          const float w = scores[j];
#pragma omp simd
          for (int c = 0; c < d; ++c) o[c] += w * v[c];
        }
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
