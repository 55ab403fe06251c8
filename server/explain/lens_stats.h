// Logit lens statistics of one position: what one layer's residual stream, read through the
// model's final norm and LM head, would predict, and how far that is from the final prediction.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace infer::explain {

struct LensStats {
  std::vector<int32_t> top_ids;  // the top_k most likely ids, most likely first
  std::vector<float> top_probs;
  int32_t target_id = -1;    // -1: no target at this position
  uint32_t target_rank = 0;  // 1 = most likely; 0 without a target
  float target_prob = 0;
  float entropy = 0;      // of the layer's distribution, nats
  float kl_to_final = 0;  // KL(final || layer), nats
};

// Softmax in double (max subtracted). Ties in probability go to the lower id first, both in the
// top list and in the rank (rank = 1 + ids more likely + lower ids equally likely). KL terms
// where the final probability is 0 count 0. A target outside [0, V) is treated as none.
// top_k is clamped to [0, V].
LensStats LensAtPosition(std::span<const float> layer_logits, std::span<const float> final_logits,
                         int32_t target_id, int top_k);

}  // namespace infer::explain
