// A causal decoder architecture (GPT-2 now, Llama-style later) as the engine drives it: one
// packed batch of new tokens for many sequences, keys/values kept in the paged cache.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/model/forward_capture.h"
#include "server/model/model_info.h"
#include "server/runtime/kv_cache.h"

namespace infer::model {

struct DecoderBatch {
  std::vector<int32_t> tokens;        // [total] new tokens, sequences packed one after another
  std::vector<int32_t> positions;     // [total] absolute position of each token
  std::vector<int32_t> cu_seqlens;    // [num_seqs + 1] packed row offsets
  std::vector<int32_t> context_lens;  // [num_seqs] tokens in the cache after this step
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks]
  int max_blocks = 0;
  std::vector<int32_t> slots;         // [total] cache slot of each new token
  std::vector<int32_t> logit_rows;    // packed rows whose next-token logits are wanted
  bool want_final_hidden = false;     // final (normed) hidden state of every row
  int num_seqs() const { return static_cast<int>(context_lens.size()); }
};

struct DecoderOutput {
  std::vector<float> logits;        // [logit_rows, vocab]
  std::vector<float> final_hidden;  // [total, hidden] when asked
};

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;
  virtual const ModelInfo& info() const = 0;
  virtual absl::Status Forward(const DecoderBatch& batch, runtime::PagedKvCache& cache,
                               ForwardCapture* capture, DecoderOutput* out) = 0;

  // Explanations read these instead of the weights themselves, so that the model layer stays the
  // only place that knows how a checkpoint lays them out.
  // Host copy of layer `layer`'s attention output projection, [heads*head_dim, hidden] row-major:
  // attn_out = concat_heads(a) . W (+ bias, not included); rows h*head_dim.. are head h's slice.
  // INVALID_ARGUMENT for a layer out of range.
  virtual absl::StatusOr<std::vector<float>> AttentionOutputWeight(int layer) const = 0;
  // The factor the model multiplies q.k by in layer `layer`.
  virtual float AttentionScale(int layer) const = 0;
  // The logit lens: states [rows, hidden] through the final norm (when apply_final_norm) and the
  // LM head into logits [rows, vocab]. ForwardCapture::hidden[num_layers] already has the final
  // norm; the other hidden states are the raw residual stream and need it.
  virtual absl::Status LensLogits(std::span<const float> states, int64_t rows,
                                  bool apply_final_norm, std::vector<float>* logits) = 0;
};

}  // namespace infer::model
