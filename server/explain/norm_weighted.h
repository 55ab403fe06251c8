// Norm-weighted attention (Kobayashi et al. 2020, "Attention is not only a weight"): an
// attention weight says little when the vector it weights is tiny, so weight it by the norm of
// what the key actually contributes to the layer's output.
#pragma once

#include <span>
#include <vector>

namespace infer::explain {

struct NormWeightedMaps {
  std::vector<float> per_head;  // [heads, T, T]: alpha[h,i,j] * ||f_h(x_j)||
  std::vector<float> summed;    // [T, T]: ||sum_h alpha[h,i,j] f_h(x_j)||
};

// f_h(x_j) = v_j^{g(h)} W_O[h]: key j's value vector for the KV head that query head h reads
// (g(h) = h / (heads / kv_heads), grouped-query attention) times head h's rows of the output
// projection; the bias is left out, as in the paper.
//   probs:    [heads, T, T] attention probabilities (query i, key j)
//   values:   [T, kv_heads * head_dim] row-major value vectors
//   out_proj: [heads * head_dim, hidden] row-major; head h owns rows h*head_dim .. +head_dim-1
//             (GPT-2's Conv1D c_proj as stored; transpose an nn.Linear weight first)
// heads must be a multiple of kv_heads.
NormWeightedMaps NormWeightedAttention(std::span<const float> probs, std::span<const float> values,
                                       std::span<const float> out_proj, int heads, int kv_heads,
                                       int head_dim, int hidden, int tokens);

}  // namespace infer::explain
