// Scores many variants of one input (perturbed copies for occlusion and LIME) through the
// engine's normal batched paths. For causal LMs every variant is a new sequence; variants that
// share a prefix with one already computed attach its cached KV blocks (the engine's prefix cache,
// whole blocks), so a perturbation starting at position p recomputes from about p on. Encoders
// run the variants as packed batches.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/tasks/task_model.h"

namespace infer::explain {

struct ScoreTarget {
  // Causal LMs: position first_position + k predicts ids[k]. Variants hold the tokens
  // [0, first_position + ids.size()).
  int first_position = 0;
  std::vector<int32_t> ids;
  // Encoders with a classification head: the label whose log-probability is the score.
  int label = -1;
};

struct VariantScores {
  // [variants][targets]: log p(target) (encoders: one value, log p(label)).
  std::vector<std::vector<double>> log_probs;
  int engine_calls = 0;
};

// Rows one engine call may compute (prompt tokens) and logits rows it may hold; both bound memory.
struct ScoreLimits {
  int64_t max_batch_tokens = 2048;
  int64_t max_logit_floats = int64_t{16} << 20;
};

// type_ids: empty or one per token, shared by every variant (encoders with pairs).
absl::StatusOr<VariantScores> ScoreVariants(tasks::TaskModel& model,
                                            const std::vector<std::vector<int32_t>>& variants,
                                            std::span<const int32_t> type_ids,
                                            const ScoreTarget& target,
                                            const ScoreLimits& limits = {});

}  // namespace infer::explain
