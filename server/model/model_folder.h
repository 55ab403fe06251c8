// A Hugging Face model folder opened for serving: config.json, optional generation_config.json,
// optional sentence-transformers pooling, and the memory-mapped weights. Tokenizer files are read
// by server/tokenizer/, architectures by their own files; this is only the common part.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/model/pooling_config.h"
#include "server/model/weight_store.h"

namespace infer::model {

struct ModelFolder {
  std::string path;
  nlohmann::json config;                             // config.json, an object
  std::string model_type;                            // config "model_type" ("" when absent)
  std::vector<std::string> architectures;            // config "architectures" (may be empty)
  std::optional<nlohmann::json> generation_config;   // generation_config.json, when present
  std::optional<PoolingConfig> pooling;              // modules.json etc., when present
  WeightStore weights;
};

// Missing folder or config.json -> NOT_FOUND; malformed files -> INVALID_ARGUMENT; weights only
// in a non-safetensors format -> UNIMPLEMENTED. Also checks that a pooling dimension matches the
// config's hidden size when both are known.
absl::StatusOr<ModelFolder> OpenModelFolder(const std::string& path);

// The config's hidden size under the name its family uses (hidden_size, n_embd, d_model, dim),
// or nullopt when none is present.
std::optional<int64_t> ConfigHiddenSize(const nlohmann::json& config);

}  // namespace infer::model
