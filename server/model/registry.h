// The one place that maps a model folder's model_type to an architecture. Adding a family
// (Llama after GPT-2) is a new file in server/model/ plus one line in registry.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/model/decoder_model.h"
#include "server/model/encoder_model.h"
#include "server/model/model_folder.h"

namespace infer::model {

struct LoadedModel {
  std::string path;
  std::string model_type;
  std::optional<nlohmann::json> generation_config;
  std::optional<PoolingConfig> pooling;
  // Exactly one of these is set.
  std::unique_ptr<DecoderModel> decoder;
  std::unique_ptr<EncoderModel> encoder;
  const ModelInfo& info() const { return decoder ? decoder->info() : encoder->info(); }
};

// Reads the folder and uploads the weights to the backend. Unknown model_type is
// INVALID_ARGUMENT listing the supported ones; a missing folder NOT_FOUND.
absl::StatusOr<LoadedModel> LoadModel(const std::string& path, kernels::Backend* backend);

std::vector<std::string> SupportedModelTypes();

}  // namespace infer::model
