// Token attributions without gradients, in Captum's layout: occlusion (each feature replaced by a
// baseline token in turn) and LIME (random keep/drop masks, weighted ridge fit). Every perturbed
// copy is scored through ScoreVariants, so they run as batches on the engine's normal path.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/explain/features.h"
#include "server/explain/target_scorer.h"
#include "server/tasks/task_model.h"

namespace infer::explain {

struct AttributionInput {
  std::vector<int32_t> ids;       // the explained tokens (causal: input then targets' tokens)
  std::vector<int32_t> type_ids;  // empty or one per token (encoders)
  Features features;              // feature of each token; -1 for tokens never perturbed
  ScoreTarget target;
  int32_t baseline_id = 0;
};

struct AttributionResult {
  double base_score = 0;      // all features present: sum over targets of log p
  double baseline_score = 0;  // every feature replaced by the baseline
  std::vector<float> sequence;          // [tokens]: each token gets its feature's value
  std::vector<float> per_target;        // [targets, tokens]
  std::vector<float> feature_values;    // [features]
  int evaluations = 0;
  int engine_calls = 0;
  double fit_r2 = 0;  // LIME only
};

absl::StatusOr<AttributionResult> RunOcclusion(tasks::TaskModel& model,
                                               const AttributionInput& input);

struct LimeOptions {
  int samples = 64;
  uint64_t seed = 0;
  double kernel_width = 0.25;
  double ridge_alpha = 1.0;
};

absl::StatusOr<AttributionResult> RunLime(tasks::TaskModel& model, const AttributionInput& input,
                                          const LimeOptions& options);

}  // namespace infer::explain
