// What a forward pass records when a request asks for it (explanations, golden tests). The fused
// path records nothing; capture costs copies only for the requests that want them.
#pragma once

#include <cstdint>
#include <vector>

namespace infer::model {

struct ForwardCapture {
  bool want_hidden_states = false;  // hidden_states as Hugging Face returns them
  bool want_attentions = false;     // softmax probabilities per layer
  bool want_qkv = false;            // per-layer queries, keys and values (neuron view)

  // hidden[l] is [total_tokens, hidden] for l = 0 (embeddings) .. num_layers (final output,
  // after the final norm where the architecture has one, as transformers reports it).
  std::vector<std::vector<float>> hidden;
  // attentions[l] holds, for each sequence s at attention_offsets[s], [heads, q_len_s, ctx_s].
  std::vector<std::vector<float>> attentions;
  std::vector<int64_t> attention_offsets;
  // queries[l] is [total_tokens, heads * head_dim], keys[l] and values[l] [total_tokens,
  // kv_heads * head_dim]: the batch's new tokens in the row order of `hidden`, exactly as the
  // attention consumes them (biases added, rotary applied where the model has it, not yet scaled
  // by the attention scale). Cleared when want_qkv is off.
  std::vector<std::vector<float>> queries, keys, values;
};

}  // namespace infer::model
