// Attention probabilities of one input, layer by layer, from one forward pass with capture on:
// the data of BertViz's head and model views. Causal models run one prefill over a fresh
// sequence that is released afterwards; encoders run one packed batch of one.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/tasks/task_model.h"

namespace infer::tasks {

struct AttentionMaps {
  int layers = 0;
  int heads = 0;
  int tokens = 0;
  // maps[l] is [heads, tokens, tokens] row-major (query row, key column).
  std::vector<std::vector<float>> maps;
};

// type_ids: empty, or one segment id per token (encoders with pairs).
absl::StatusOr<AttentionMaps> CaptureAttention(TaskModel& model, std::span<const int32_t> ids,
                                               std::span<const int32_t> type_ids);

}  // namespace infer::tasks
