// What a forward pass records when a request asks for it (explanations, golden tests). The fused
// path records nothing; capture costs copies only for the requests that want them.
#pragma once

#include <cstdint>
#include <vector>

namespace infer::model {

struct ForwardCapture {
  bool want_hidden_states = false;  // hidden_states as Hugging Face returns them
  bool want_attentions = false;     // softmax probabilities per layer

  // hidden[l] is [total_tokens, hidden] for l = 0 (embeddings) .. num_layers (final output,
  // after the final norm where the architecture has one, as transformers reports it).
  std::vector<std::vector<float>> hidden;
  // attentions[l] holds, for each sequence s at attention_offsets[s], [heads, q_len_s, ctx_s].
  std::vector<std::vector<float>> attentions;
  std::vector<int64_t> attention_offsets;
};

}  // namespace infer::model
