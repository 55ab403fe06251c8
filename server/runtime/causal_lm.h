// What a decoding strategy needs from a causal language model: sequences that own KV state in the
// paged cache, forking (beams, contrastive candidates share the prefix copy-on-write), and a step
// that appends tokens to many sequences at once and returns each one's next-token logits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer::runtime {

using SeqId = int64_t;

struct StepItem {
  SeqId seq = -1;
  std::vector<int32_t> tokens;  // appended after the tokens the sequence already holds
};

struct StepOutput {
  int vocab_size = 0;
  int hidden_size = 0;
  // [items, vocab] float32 logits of the last appended position of each item, in item order.
  std::vector<float> logits;
  // Only when Step(..., want_hidden=true): final-layer hidden states (as Hugging Face's
  // hidden_states[-1], i.e. after the final norm) of every appended position, items in order,
  // [sum of tokens, hidden].
  std::vector<float> hidden;
};

class CausalLm {
 public:
  virtual ~CausalLm() = default;
  virtual int vocab_size() const = 0;
  virtual int hidden_size() const = 0;
  virtual int max_positions() const = 0;  // longest sequence the model can hold

  virtual absl::StatusOr<SeqId> NewSequence() = 0;
  // A new sequence holding the same tokens as src; KV blocks are shared until written.
  virtual absl::StatusOr<SeqId> Fork(SeqId src) = 0;
  virtual void Release(SeqId seq) = 0;
  virtual int Length(SeqId seq) const = 0;

  // Runs the model over all items as one batch. RESOURCE_EXHAUSTED when the KV pool is full,
  // INVALID_ARGUMENT for unknown sequences, out-of-vocabulary ids or over-long sequences.
  virtual absl::Status Step(std::span<const StepItem> items, bool want_hidden,
                            StepOutput* out) = 0;
};

}  // namespace infer::runtime
