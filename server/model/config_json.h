// JSON files of a model folder (config.json, generation_config.json, modules.json, ...): loading
// with a size cap, strict parsing (no duplicate keys, bounded nesting) and typed getters that
// turn a wrong or missing field into an INVALID_ARGUMENT naming the file, the field and the value.
//
//   ASSIGN_OR_RETURN(nlohmann::json cfg, LoadJsonFile(dir + "/config.json"));
//   absl::StatusOr<int64_t> n_head = GetPositiveInt(cfg, "n_head", 12);
//   // config.json: 'n_head' must be a positive integer, got "abc"
//
// Getters named Get* return the default when the key is absent or null; Require* fail instead.
// `file` is the name used in messages (default "config.json").
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infer::model {

struct JsonLimits {
  size_t max_bytes = size_t{256} << 20;  // larger files are refused before they are read
  int max_depth = 128;                   // nesting of objects and arrays
  bool reject_duplicate_keys = true;     // {"a":1,"a":2} is an error, not "last one wins"
};

// Parses `text`; errors are INVALID_ARGUMENT "<source>: invalid JSON at line L, column C: ...".
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source,
                                         const JsonLimits& limits = {});

// Reads and parses a file. Missing file -> NOT_FOUND; too large / bad JSON -> INVALID_ARGUMENT.
// Messages name the file by `path`.
absl::StatusOr<nlohmann::json> LoadJsonFile(const std::string& path,
                                            const JsonLimits& limits = {});

// Reads a whole (small) file into memory, refusing files over max_bytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

// 'name' in single quotes for messages; control characters escaped, long names cut.
std::string QuoteForMessage(std::string_view s);

// A short rendering of a JSON value for error messages ("abc" -> "\"abc\"", long values cut).
std::string JsonForMessage(const nlohmann::json& value);

// --- Typed getters. `obj` must be a JSON object (else INVALID_ARGUMENT). ---

// Integers; a float with an exact integral value (e.g. 12.0) is accepted.
absl::StatusOr<int64_t> GetInt(const nlohmann::json& obj, std::string_view key,
                               int64_t default_value, std::string_view file = "config.json");
absl::StatusOr<int64_t> RequireInt(const nlohmann::json& obj, std::string_view key,
                                   std::string_view file = "config.json");
// > 0 and <= INT32_MAX (sizes, counts).
absl::StatusOr<int64_t> GetPositiveInt(const nlohmann::json& obj, std::string_view key,
                                       int64_t default_value,
                                       std::string_view file = "config.json");
absl::StatusOr<int64_t> RequirePositiveInt(const nlohmann::json& obj, std::string_view key,
                                           std::string_view file = "config.json");
// Finite numbers (integers accepted).
absl::StatusOr<double> GetFloat(const nlohmann::json& obj, std::string_view key,
                                double default_value, std::string_view file = "config.json");
absl::StatusOr<double> RequireFloat(const nlohmann::json& obj, std::string_view key,
                                    std::string_view file = "config.json");
absl::StatusOr<std::string> GetString(const nlohmann::json& obj, std::string_view key,
                                      std::string_view default_value,
                                      std::string_view file = "config.json");
absl::StatusOr<std::string> RequireString(const nlohmann::json& obj, std::string_view key,
                                          std::string_view file = "config.json");
absl::StatusOr<bool> GetBool(const nlohmann::json& obj, std::string_view key, bool default_value,
                             std::string_view file = "config.json");
// An optional list of strings (absent/null -> empty).
absl::StatusOr<std::vector<std::string>> GetStringList(const nlohmann::json& obj,
                                                       std::string_view key,
                                                       std::string_view file = "config.json");
// An object whose keys are decimal integers and values strings, as id2label: {"0": "NEG"}.
// Absent/null -> empty map. Keys must be canonical non-negative integers ("0", "17"; not "01").
absl::StatusOr<std::map<int64_t, std::string>> GetIntMap(const nlohmann::json& obj,
                                                         std::string_view key,
                                                         std::string_view file = "config.json");
// An object of string -> integer, as label2id: {"NEG": 0}. Absent/null -> empty map.
absl::StatusOr<std::map<std::string, int64_t>> GetStringToIntMap(
    const nlohmann::json& obj, std::string_view key, std::string_view file = "config.json");

// The first key of `keys` present (non-null) in obj, or nullopt. For fields that differ between
// model families (n_embd / hidden_size / d_model / dim).
std::optional<std::string> FirstPresentKey(const nlohmann::json& obj,
                                           std::initializer_list<std::string_view> keys);

}  // namespace infer::model
