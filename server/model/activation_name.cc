#include "server/model/activation_name.h"

#include "absl/strings/str_cat.h"

namespace infer::model {

absl::StatusOr<kernels::Activation> ParseActivation(std::string_view name, std::string_view key) {
  using kernels::Activation;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return Activation::kGeluTanh;
  }
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "tanh") return Activation::kTanh;
  return absl::InvalidArgumentError(absl::StrCat(
      "config.json: '", std::string(key), "' = \"", std::string(name),
      "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)"));
}

}  // namespace infer::model
