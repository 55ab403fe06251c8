#include "server/model/pooling_config.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/model/config_json.h"
#include "server/util/status_macros.h"

namespace infer::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Module {
  int64_t idx = 0;
  std::string name, path, type;
};

// "sentence_transformers.models.Pooling" -> "Pooling"; "" for types from other packages.
std::string_view ShortType(std::string_view type) {
  if (type.substr(0, 22) != "sentence_transformers.") return {};
  size_t dot = type.rfind('.');
  return type.substr(dot + 1);
}

bool SafeRelativePath(const std::string& p) {
  if (p.empty()) return true;
  if (p.front() == '/' || p.find('\0') != std::string::npos) return false;
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part == "..") return false;
  }
  return true;
}

bool IsRoot(const std::string& p) { return p.empty() || p == "." || p == "./"; }

struct ModeKey {
  const char* key;
  PoolingMode mode;
};
constexpr ModeKey kModeKeys[] = {
    {"pooling_mode_cls_token", PoolingMode::kCls},
    {"pooling_mode_mean_tokens", PoolingMode::kMean},
    {"pooling_mode_max_tokens", PoolingMode::kMax},
    {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
    {"pooling_mode_lasttoken", PoolingMode::kLastToken},
    {"pooling_mode_weightedmean_tokens", PoolingMode::kWeightedMean},
};

absl::StatusOr<std::vector<Module>> ReadModules(const std::string& file) {
  INFER_ASSIGN_OR_RETURN(json root, LoadJsonFile(file));
  if (!root.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": expected a list of modules, got ", JsonForMessage(root)));
  }
  std::vector<Module> modules;
  std::set<int64_t> seen;
  for (size_t i = 0; i < root.size(); ++i) {
    const json& m = root[i];
    const std::string where = absl::StrCat(file, " module #", i);
    if (!m.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object, got ", JsonForMessage(m)));
    }
    Module mod;
    INFER_ASSIGN_OR_RETURN(mod.idx, GetInt(m, "idx", static_cast<int64_t>(i), where));
    INFER_ASSIGN_OR_RETURN(mod.name, GetString(m, "name", "", where));
    INFER_ASSIGN_OR_RETURN(mod.path, GetString(m, "path", "", where));
    INFER_ASSIGN_OR_RETURN(mod.type, RequireString(m, "type", where));
    if (!seen.insert(mod.idx).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": 'idx' ", mod.idx, " is used by another module"));
    }
    if (!SafeRelativePath(mod.path)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": 'path' ", JsonForMessage(json(mod.path)), " leaves the model folder"));
    }
    modules.push_back(std::move(mod));
  }
  std::stable_sort(modules.begin(), modules.end(),
                   [](const Module& a, const Module& b) { return a.idx < b.idx; });
  return modules;
}

}  // namespace

std::string_view PoolingModeName(PoolingMode mode) {
  switch (mode) {
    case PoolingMode::kCls: return "cls";
    case PoolingMode::kMean: return "mean";
    case PoolingMode::kMax: return "max";
    case PoolingMode::kMeanSqrtLen: return "mean_sqrt_len";
    case PoolingMode::kLastToken: return "lasttoken";
    case PoolingMode::kWeightedMean: return "weightedmean";
  }
  return "?";
}

absl::StatusOr<std::optional<PoolingConfig>> ReadPoolingConfig(const std::string& folder) {
  const fs::path dir(folder);
  const std::string modules_file = (dir / "modules.json").string();
  std::error_code ec;
  if (!fs::exists(modules_file, ec)) return std::optional<PoolingConfig>();

  INFER_ASSIGN_OR_RETURN(std::vector<Module> modules, ReadModules(modules_file));
  PoolingConfig cfg;
  const Module* pooling = nullptr;
  bool seen_transformer = false;
  for (const Module& m : modules) {
    std::string_view type = ShortType(m.type);
    if (type == "Transformer") {
      if (seen_transformer || pooling != nullptr) {
        return absl::UnimplementedError(absl::StrCat(
            modules_file, ": module ", JsonForMessage(json(m.name)),
            ": only one Transformer module, before pooling, is supported"));
      }
      if (!IsRoot(m.path)) {
        return absl::UnimplementedError(absl::StrCat(
            modules_file, ": module ", JsonForMessage(json(m.name)), ": the Transformer module "
            "lives in subfolder ", JsonForMessage(json(m.path)),
            "; only a Transformer at the folder root is supported"));
      }
      seen_transformer = true;
    } else if (type == "Pooling") {
      if (pooling != nullptr) {
        return absl::UnimplementedError(
            absl::StrCat(modules_file, ": more than one Pooling module"));
      }
      pooling = &m;
    } else if (type == "Normalize") {
      if (pooling == nullptr) {
        return absl::UnimplementedError(absl::StrCat(
            modules_file, ": a Normalize module before the Pooling module is not supported"));
      }
      cfg.normalize = true;
    } else {
      return absl::UnimplementedError(absl::StrCat(
          modules_file, ": module ", JsonForMessage(json(m.name)), " of type ",
          JsonForMessage(json(m.type)),
          " is not supported (supported: sentence_transformers.models.Transformer, Pooling, "
          "Normalize)"));
    }
  }
  if (pooling == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        modules_file, ": no sentence_transformers.models.Pooling module is listed"));
  }

  const std::string pool_file = (dir / pooling->path / "config.json").string();
  INFER_ASSIGN_OR_RETURN(json pc, LoadJsonFile(pool_file));
  if (!pc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pool_file, ": expected a JSON object, got ", JsonForMessage(pc)));
  }
  INFER_ASSIGN_OR_RETURN(int64_t dim,
                         RequirePositiveInt(pc, "word_embedding_dimension", pool_file));
  cfg.dimension = static_cast<int>(dim);
  std::vector<std::string> on;
  for (const ModeKey& mk : kModeKeys) {
    INFER_ASSIGN_OR_RETURN(bool enabled, GetBool(pc, mk.key, false, pool_file));
    if (enabled) {
      on.push_back(mk.key);
      cfg.mode = mk.mode;
    }
  }
  if (on.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pool_file, ": no pooling mode is enabled (expected one of "
                                "pooling_mode_cls_token, pooling_mode_mean_tokens, ...)"));
  }
  if (on.size() > 1) {
    return absl::UnimplementedError(
        absl::StrCat(pool_file, ": several pooling modes at once (", absl::StrJoin(on, ", "),
                     ") are not supported; enable exactly one"));
  }

  const std::string sb_file = (dir / "sentence_bert_config.json").string();
  if (fs::exists(sb_file, ec)) {
    INFER_ASSIGN_OR_RETURN(json sb, LoadJsonFile(sb_file));
    if (!sb.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(sb_file, ": expected a JSON object, got ", JsonForMessage(sb)));
    }
    if (sb.contains("max_seq_length") && !sb["max_seq_length"].is_null()) {
      INFER_ASSIGN_OR_RETURN(int64_t n, RequirePositiveInt(sb, "max_seq_length", sb_file));
      cfg.max_seq_length = static_cast<int>(n);
    }
    if (sb.contains("do_lower_case") && !sb["do_lower_case"].is_null()) {
      INFER_ASSIGN_OR_RETURN(bool lower, GetBool(sb, "do_lower_case", false, sb_file));
      cfg.do_lower_case = lower;
    }
  }
  return std::optional<PoolingConfig>(cfg);
}

}  // namespace infer::model
