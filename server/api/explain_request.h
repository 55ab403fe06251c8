// An ExplainAttention request checked and resolved into a plan: the model-independent checks and
// tokenization run on the gRPC thread, before the request waits for the model; the cost (forward
// passes and reply bytes) is estimated from the plan so that a request over its budget is refused
// before any work, with a selection that would fit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/v1/explain.pb.h"
#include "server/explain/attributions.h"
#include "server/explain/features.h"
#include "server/explain/model_runs.h"
#include "server/service/server_config.h"
#include "server/tasks/task_model.h"
#include "server/tokenizer/tokenizer.h"

namespace infer::api {

struct ExplainPlan {
  // Methods in enum order, each once.
  std::vector<infer::v1::ExplainMethod> methods;
  bool Has(infer::v1::ExplainMethod m) const;
  bool NeedsCapture() const;

  std::vector<uint32_t> layers;  // selected layers, 0..num_layers (lens/projection use num_layers)
  std::vector<uint32_t> heads;
  std::vector<uint32_t> query_rows;  // empty: all
  uint32_t top_k_keys = 0;
  bool float16 = false;

  tokenizer::Encoding input;  // the input as tokenized (specials, spans, segments)
  std::string text_a, text_b;  // the texts the input's byte spans index
  std::vector<int32_t> span_segments;  // per input token: 0 text_a, 1 text_b, -1 none
  int input_tokens = 0;
  std::vector<int32_t> continuation;  // CONTINUATION target tokens
  int generate_tokens = 0;
  infer::v1::ExplainTargetKind target = infer::v1::EXPLAIN_TARGET_UNSPECIFIED;
  int label = -1;  // CLASS_LABEL; -1: the predicted one

  uint32_t max_forward_passes = 0;
  uint64_t max_bytes = 0;
  bool allow_truncation = false;

  int lens_top_k = 5;
  std::vector<uint32_t> lens_positions;  // empty: the target positions

  explain::Granularity granularity = explain::Granularity::kToken;
  explain::Features features;  // of the input tokens
  explain::LimeOptions lime;
  int32_t baseline_id = 0;

  std::vector<explain::PoolInput> projection_inputs;  // point 0 is the input
  std::vector<std::string> projection_texts;
  int projection_layer = 0;
  int projection_dims = 2;
  explain::Pooling pooling = explain::Pooling::kMean;
};

absl::StatusOr<ExplainPlan> PlanExplain(const infer::v1::ExplainAttentionRequest& request,
                                        const tasks::TaskModel& model,
                                        const service::ServiceLimits& limits);

// Forward passes the plan takes (generated tokens count one each).
int64_t PlannedForwardPasses(const ExplainPlan& plan);

// Payload bytes of the reply for `tokens` explained tokens (an upper bound when generation may
// stop early).
uint64_t PlannedBytes(const ExplainPlan& plan, const model::ModelInfo& info, int64_t tokens);

// OK, or INVALID_ARGUMENT naming the limit that is exceeded and a selection that would fit.
absl::Status CheckBudget(const ExplainPlan& plan, const tasks::TaskModel& model,
                         const service::ServiceLimits& limits, int64_t tokens);

}  // namespace infer::api
