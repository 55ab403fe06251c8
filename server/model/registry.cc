#include "server/model/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/model/gpt2.h"
#include "server/util/status_macros.h"

namespace infer::model {
namespace {

enum class Kind { kDecoder, kEncoder };
struct Entry {
  const char* model_type;
  Kind kind;
};
constexpr Entry kRegistry[] = {
    {"gpt2", Kind::kDecoder},       {"bert", Kind::kEncoder},        {"roberta", Kind::kEncoder},
    {"distilbert", Kind::kEncoder}, {"xlm-roberta", Kind::kEncoder}, {"camembert", Kind::kEncoder},
};

}  // namespace

std::vector<std::string> SupportedModelTypes() {
  std::vector<std::string> out;
  for (const Entry& e : kRegistry) out.push_back(e.model_type);
  return out;
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, kernels::Backend* backend) {
  INFER_ASSIGN_OR_RETURN(ModelFolder folder, OpenModelFolder(path));
  LoadedModel m;
  m.path = path;
  m.model_type = folder.model_type;
  m.generation_config = folder.generation_config;
  m.pooling = folder.pooling;
  for (const Entry& e : kRegistry) {
    if (folder.model_type != e.model_type) continue;
    if (e.kind == Kind::kDecoder) {
      INFER_ASSIGN_OR_RETURN(m.decoder, LoadGpt2(folder, backend));
    } else {
      INFER_ASSIGN_OR_RETURN(m.encoder, LoadBertFamily(folder, backend));
    }
    return m;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, "/config.json: model_type \"", folder.model_type, "\" is not supported (supported: ",
      absl::StrJoin(SupportedModelTypes(), ", "), ")"));
}

}  // namespace infer::model
