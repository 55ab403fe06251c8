#include "server/api/input_checks.h"

#include "absl/strings/str_cat.h"

namespace infer::api {

absl::Status CheckInputs(const Texts& inputs, const service::ServiceLimits& limits,
                         const char* field) {
  if (inputs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": at least one input is required"));
  }
  if (inputs.size() > limits.max_batch) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", inputs.size(), " inputs exceed this server's limit of ",
                     limits.max_batch, " per request (--max-batch)"));
  }
  for (int i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: empty text"));
    }
  }
  return absl::OkStatus();
}

int64_t EstimateTokens(const Texts& inputs) {
  int64_t n = 0;
  for (const std::string& s : inputs) n += static_cast<int64_t>(s.size()) / 2 + 2;
  return n;
}

absl::Status CheckPairs(const Texts& pairs, const Texts& inputs) {
  if (!pairs.empty() && pairs.size() != inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pairs: ", pairs.size(),
                                                   " pairs for ", inputs.size(),
                                                   " inputs; give one per input or none"));
  }
  return absl::OkStatus();
}

}  // namespace infer::api

#include "server/tasks/task_model.h"

namespace infer::api {

absl::StatusOr<std::vector<int>> CountTokens(const tasks::TaskModel& model, const Texts& inputs) {
  const int context = model.max_input_tokens();
  std::vector<int> counts;
  for (int i = 0; i < inputs.size(); ++i) {
    const tokenizer::Tokenizer& tok = model.tokenizer();
    int n = static_cast<int>(tok.Encode(inputs[i]).size());
    if (n > context) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inputs[", i, "]: ", n, " tokens exceed the model's context of ", context, " tokens"));
    }
    counts.push_back(n);
  }
  return counts;
}

}  // namespace infer::api
