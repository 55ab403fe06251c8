#include "server/tokenizer/json_util.h"

#include <fstream>
#include <sstream>

namespace infer::tokenizer {

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, const std::string& shown_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(shown_name + ": cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(shown_name + ": not valid JSON (" + e.what() + ")");
  }
}

absl::StatusOr<const nlohmann::json*> RequireObject(const nlohmann::json& j, const JsonPath& at) {
  if (!j.is_object()) return at.Error(std::string("expected an object, got ") + j.type_name());
  return &j;
}

absl::StatusOr<const nlohmann::json*> RequireMember(const nlohmann::json& obj, const std::string& key,
                                                    const JsonPath& at) {
  if (!obj.is_object()) return at.Error(std::string("expected an object, got ") + obj.type_name());
  auto it = obj.find(key);
  if (it == obj.end()) return at.Error("missing field '" + key + "'");
  return &*it;
}

absl::StatusOr<bool> GetBool(const nlohmann::json& obj, const std::string& key, bool def,
                             const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(std::optional<bool> v, GetOptBool(obj, key, at));
  return v.value_or(def);
}

absl::StatusOr<std::optional<bool>> GetOptBool(const nlohmann::json& obj, const std::string& key,
                                               const JsonPath& at) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return (at / key).Error(std::string("expected a boolean, got ") + it->type_name());
  return std::optional<bool>(it->get<bool>());
}

absl::StatusOr<std::optional<std::string>> GetOptString(const nlohmann::json& obj,
                                                        const std::string& key, const JsonPath& at) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return (at / key).Error(std::string("expected a string, got ") + it->type_name());
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::optional<int64_t>> GetOptInt(const nlohmann::json& obj, const std::string& key,
                                                 const JsonPath& at) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>();
  TOK_ASSIGN_OR_RETURN(int64_t v, AsInt(*it, at / key));
  return std::optional<int64_t>(v);
}

absl::StatusOr<std::string> GetString(const nlohmann::json& obj, const std::string& key,
                                      const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(const nlohmann::json* v, RequireMember(obj, key, at));
  if (!v->is_string()) return (at / key).Error(std::string("expected a string, got ") + v->type_name());
  return v->get<std::string>();
}

absl::StatusOr<int64_t> AsInt(const nlohmann::json& j, const JsonPath& at) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT32_MAX)) return at.Error("integer " + j.dump() + " is out of range");
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return at.Error(std::string("expected an integer, got ") + j.type_name() + " " + j.dump());
}

}  // namespace infer::tokenizer
