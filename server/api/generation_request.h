// A GenerateRequest turned into the engine's GenerationOptions and prompt ids: the model's
// defaults, overlaid with every field the request sets, then checked against the model and this
// server's limits. Errors are INVALID_ARGUMENT naming the proto field.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/v1/generate.pb.h"
#include "server/runtime/generation_options.h"
#include "server/service/server_config.h"
#include "server/tasks/task_model.h"

namespace infer::api {

struct PreparedGeneration {
  std::vector<int32_t> prompt;
  runtime::GenerationOptions options;
};

// Server-side bounds on per-request work beyond --max-new-tokens.
inline constexpr int kMaxBeams = 32;
inline constexpr int kMaxReturnSequences = 32;
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr int kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 512;

absl::StatusOr<PreparedGeneration> PrepareGeneration(const infer::v1::GenerateRequest& request,
                                                     const tasks::TaskModel& model,
                                                     const service::ServiceLimits& limits);

}  // namespace infer::api
