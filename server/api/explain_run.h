// The part of an explanation that needs the model: generation first, the capture forward, the
// target, the logit-lens logits, the attribution runs and the pooled states. It runs on the
// model's worker (ServedModel::RunExclusive) and leaves plain arrays; the statistics and the
// messages are made afterwards on the gRPC thread, so the model goes back to serving at once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/api/explain_request.h"
#include "server/explain/attributions.h"
#include "server/model/forward_capture.h"
#include "server/tasks/task_model.h"

namespace infer::api {

struct ExplainRun {
  std::vector<int32_t> ids;       // every explained token: input, then continuation / generated
  std::vector<int32_t> type_ids;  // one per token
  std::string generated_text;
  int generated = 0;
  // Target positions and tokens (CLASS_LABEL: position 0 and the label index).
  std::vector<uint32_t> target_positions;
  std::vector<int32_t> target_ids;

  model::ForwardCapture capture;
  std::vector<std::vector<float>> out_proj;  // per layer [heads*d, hidden] (NORM_WEIGHTED; selected layers only)
  std::vector<float> scales;                 // per layer (NEURON_VIEW)

  // Logit lens: positions, and per selected layer (plan.layers order) [positions, vocab], plus
  // the final layer's [positions, vocab].
  std::vector<uint32_t> lens_positions;
  std::vector<std::vector<float>> lens_logits;
  std::vector<float> final_logits;

  std::optional<explain::AttributionResult> occlusion, lime;
  std::vector<float> pooled;  // [points, hidden]

  int forward_passes = 0;
  int engine_calls = 0;
};

absl::StatusOr<ExplainRun> RunExplain(const ExplainPlan& plan, tasks::TaskModel& model);

}  // namespace infer::api
