// Maps the activation names found in Hugging Face configs to backend activations.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace infer::model {

// "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> tanh approximation; "gelu" -> erf; "relu";
// "silu"/"swish"; "tanh". Anything else is INVALID_ARGUMENT naming the key.
absl::StatusOr<kernels::Activation> ParseActivation(std::string_view name, std::string_view key);

}  // namespace infer::model
