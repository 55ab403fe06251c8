// The model runs an explanation needs, each through the engine's normal entry points on the
// calling thread (the model's worker, via RunExclusive): one forward with capture switched on for
// this input only, next-token logits, and pooled states of a batch of texts. Causal models run on
// fresh sequences that are released afterwards; encoders run packed batches.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/forward_capture.h"
#include "server/tasks/task_model.h"

namespace infer::explain {

struct CaptureWants {
  bool attentions = false;
  bool qkv = false;
  bool hidden = false;
};

// One forward over `ids` with the asked-for capture. type_ids: empty, or one segment id per token
// (encoders). The capture's per-layer arrays hold this one input's rows.
absl::StatusOr<model::ForwardCapture> CaptureForward(tasks::TaskModel& model,
                                                     std::span<const int32_t> ids,
                                                     std::span<const int32_t> type_ids,
                                                     const CaptureWants& wants);

// Causal models: the next-token logits after `ids` ([vocab]).
absl::StatusOr<std::vector<float>> NextTokenLogits(tasks::TaskModel& model,
                                                   std::span<const int32_t> ids);

enum class Pooling { kMean, kFirst, kLast };

struct PoolInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;   // empty or one per token
  std::vector<uint8_t> special;    // one per token; excluded from mean pooling
};

// Pooled hidden state `layer` (0 = embeddings .. num_layers = final) of each input, one batched
// forward: [inputs, hidden].
absl::StatusOr<std::vector<float>> PooledStates(tasks::TaskModel& model,
                                                const std::vector<PoolInput>& inputs, int layer,
                                                Pooling pooling);

}  // namespace infer::explain
