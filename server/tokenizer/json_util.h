// Typed, error-reporting access to JSON fields of tokenizer files: every failure names the file
// and the JSON path, so a bad model folder is diagnosable from the error alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infer::tokenizer {

// Where a JSON value sits: file name and path, e.g. "tokenizer.json: model.vocab".
struct JsonPath {
  std::string file;
  std::string path;
  JsonPath operator/(const std::string& key) const {
    return {file, path.empty() ? key : path + "." + key};
  }
  JsonPath operator[](size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
  absl::Status Error(const std::string& problem) const {
    return absl::InvalidArgumentError(file + ": " + (path.empty() ? "" : path + ": ") + problem);
  }
};

// Reads and parses a whole JSON file.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, const std::string& shown_name);

absl::StatusOr<const nlohmann::json*> RequireObject(const nlohmann::json& j, const JsonPath& at);
// A member that must exist.
absl::StatusOr<const nlohmann::json*> RequireMember(const nlohmann::json& obj, const std::string& key,
                                                    const JsonPath& at);
// Optional members: absent or null gives the default.
absl::StatusOr<bool> GetBool(const nlohmann::json& obj, const std::string& key, bool def,
                             const JsonPath& at);
absl::StatusOr<std::optional<bool>> GetOptBool(const nlohmann::json& obj, const std::string& key,
                                               const JsonPath& at);
absl::StatusOr<std::optional<std::string>> GetOptString(const nlohmann::json& obj,
                                                        const std::string& key, const JsonPath& at);
absl::StatusOr<std::optional<int64_t>> GetOptInt(const nlohmann::json& obj, const std::string& key,
                                                 const JsonPath& at);
absl::StatusOr<std::string> GetString(const nlohmann::json& obj, const std::string& key,
                                      const JsonPath& at);
absl::StatusOr<int64_t> AsInt(const nlohmann::json& j, const JsonPath& at);

}  // namespace infer::tokenizer

// Status plumbing used by the loaders.
#define TOK_ASSIGN_OR_RETURN(lhs, expr) TOK_ASSIGN_OR_RETURN_IMPL(TOK_CONCAT(_st_, __LINE__), lhs, expr)
#define TOK_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)
#define TOK_CONCAT(a, b) TOK_CONCAT_INNER(a, b)
#define TOK_CONCAT_INNER(a, b) a##b
#define TOK_RETURN_IF_ERROR(expr)          \
  do {                                     \
    absl::Status _st = (expr);             \
    if (!_st.ok()) return _st;             \
  } while (0)
