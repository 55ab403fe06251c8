// Checks shared by the batch RPCs: how many inputs, none empty, pairs matching inputs. Every
// error is INVALID_ARGUMENT naming the field (and the index) at fault.
#pragma once

#include <string>

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/service/server_config.h"

namespace infer::api {

using Texts = google::protobuf::RepeatedPtrField<std::string>;

// 1 <= inputs <= limits.max_batch, every input non-empty.
absl::Status CheckInputs(const Texts& inputs, const service::ServiceLimits& limits,
                         const char* field = "inputs");
// pairs empty or one per input.
absl::Status CheckPairs(const Texts& pairs, const Texts& inputs);

// A cheap upper estimate of the inputs' token count (bytes / 2 + 2 per input), for the queue's
// token limit before the inputs are tokenized.
int64_t EstimateTokens(const Texts& inputs);

}  // namespace infer::api

namespace infer::tasks {
class TaskModel;
}

namespace infer::api {

// Token count of each input (special tokens included); an input longer than the model's context
// is INVALID_ARGUMENT naming it. For zero-shot, whose inputs cannot be cut (Embed and Classify
// heads leave truncation to the TaskModel, which tokenizes once).
absl::StatusOr<std::vector<int>> CountTokens(const tasks::TaskModel& model, const Texts& inputs);

}  // namespace infer::api
