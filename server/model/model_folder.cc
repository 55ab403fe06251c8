#include "server/model/model_folder.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "server/model/config_json.h"
#include "server/util/status_macros.h"

namespace infer::model {

namespace fs = std::filesystem;

std::optional<int64_t> ConfigHiddenSize(const nlohmann::json& config) {
  std::optional<std::string> key = FirstPresentKey(config, {"hidden_size", "n_embd", "d_model", "dim"});
  if (!key) return std::nullopt;
  absl::StatusOr<int64_t> v = RequirePositiveInt(config, *key);
  if (!v.ok()) return std::nullopt;
  return *v;
}

absl::StatusOr<ModelFolder> OpenModelFolder(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model folder ", path, " does not exist"));
  }
  if (!fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("model folder ", path, " is not a directory"));
  }
  ModelFolder folder;
  folder.path = path;

  const std::string config_file = (fs::path(path) / "config.json").string();
  if (!fs::exists(config_file, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model folder ", path, " has no config.json (", config_file, ")"));
  }
  INFER_ASSIGN_OR_RETURN(folder.config, LoadJsonFile(config_file));
  if (!folder.config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_file, ": expected a JSON object, got ", JsonForMessage(folder.config)));
  }
  INFER_ASSIGN_OR_RETURN(folder.model_type, GetString(folder.config, "model_type", "", config_file));
  INFER_ASSIGN_OR_RETURN(folder.architectures,
                         GetStringList(folder.config, "architectures", config_file));
  // Fields every architecture reads: reject wrong types here, with the file named.
  if (std::optional<std::string> key =
          FirstPresentKey(folder.config, {"hidden_size", "n_embd", "d_model", "dim"})) {
    INFER_RETURN_IF_ERROR(RequirePositiveInt(folder.config, *key, config_file).status());
  }

  const std::string gen_file = (fs::path(path) / "generation_config.json").string();
  if (fs::exists(gen_file, ec)) {
    INFER_ASSIGN_OR_RETURN(nlohmann::json gen, LoadJsonFile(gen_file));
    if (!gen.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(gen_file, ": expected a JSON object, got ", JsonForMessage(gen)));
    }
    folder.generation_config = std::move(gen);
  }

  INFER_ASSIGN_OR_RETURN(folder.pooling, ReadPoolingConfig(path));
  if (folder.pooling) {
    std::optional<int64_t> hidden = ConfigHiddenSize(folder.config);
    if (hidden && *hidden != folder.pooling->dimension) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": pooling word_embedding_dimension ", folder.pooling->dimension,
          " does not match the hidden size ", *hidden, " in config.json"));
    }
  }

  INFER_ASSIGN_OR_RETURN(folder.weights, WeightStore::Open(path));
  return folder;
}

}  // namespace infer::model
