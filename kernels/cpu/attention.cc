// Reference attention over packed variable-length sequences, keys from a paged cache or from
// contiguous packed tensors. One task per (sequence, head); scores for one query row at a time
// so memory stays O(context). Exact softmax in float32 (max-subtracted), like PyTorch's eager path.
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
  const float* K(int64_t pos, int kh) const { return Row(p.k, p.k_cache, pos, kh); }
  const float* V(int64_t pos, int kh) const { return Row(p.v, p.v_cache, pos, kh); }
};

}  // namespace

void Attention(const AttentionParams& p) {
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
      const int64_t q0 = p.cu_seqlens_q[s], q_len = p.cu_seqlens_q[s + 1] - q0;
      const int64_t ctx = p.context_lens[s];
      KvRows kv{p, s, q0};
      scores.resize(std::max<int64_t>(ctx, 1));
      for (int64_t i = 0; i < q_len; ++i) {
        const float* q = p.q + (q0 + i) * q_row + static_cast<int64_t>(h) * d;
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
        float* o = p.out + (q0 + i) * q_row + static_cast<int64_t>(h) * d;
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
