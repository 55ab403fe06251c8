// Owns the model sequences one generate call creates and releases whichever are still held when
// it goes out of scope, so every path out of a decoder (errors and cancellation included) gives
// its KV blocks back.
#pragma once

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"

namespace infer::runtime {

class SequencePool {
 public:
  explicit SequencePool(CausalLm& model) : model_(model) {}
  ~SequencePool();
  SequencePool(const SequencePool&) = delete;
  SequencePool& operator=(const SequencePool&) = delete;

  absl::StatusOr<SeqId> New();
  absl::StatusOr<SeqId> Fork(SeqId src);
  void Release(SeqId seq);  // no-op for a sequence this pool does not hold
  void ReleaseAll();
  size_t live() const { return live_.size(); }

 private:
  CausalLm& model_;
  absl::flat_hash_set<SeqId> live_;
};

}  // namespace infer::runtime
