#include "server/model/config_json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace infer::model {
namespace {

using nlohmann::json;

// Debian's absl::string_view is its own type, not std::string_view.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Thrown from the parser callback to stop parsing; caught in ParseJson.
struct JsonLimitError {
  std::string message;
};

std::string StripNlohmannPrefix(const char* what) {
  std::string_view s(what);
  // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at line 1, ..."
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find("] ");
    if (close != std::string_view::npos) s.remove_prefix(close + 2);
  }
  return std::string(s);
}

absl::Status NotAnObject(const json& obj, std::string_view file) {
  return absl::InvalidArgumentError(
      absl::StrCat(AV(file), ": expected a JSON object, got ", obj.type_name()));
}

// nullptr when absent or null.
const json* Lookup(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status Missing(std::string_view file, std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(AV(file), ": missing required field '", AV(key), "' (", AV(what), ")"));
}

absl::Status Wrong(std::string_view file, std::string_view key, std::string_view what,
                   const json& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(AV(file), ": '", AV(key), "' must be ", AV(what), ", got ", JsonForMessage(value)));
}

std::optional<int64_t> AsInt(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    // Exactly integral and inside the range where every integer is representable.
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

absl::StatusOr<int64_t> IntField(const json& obj, std::string_view key,
                                 std::optional<int64_t> default_value, bool positive,
                                 std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  const char* what = positive ? "a positive integer" : "an integer";
  const json* v = Lookup(obj, key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Missing(file, key, what);
  }
  std::optional<int64_t> i = AsInt(*v);
  if (!i) return Wrong(file, key, what, *v);
  if (positive && (*i <= 0 || *i > std::numeric_limits<int32_t>::max())) {
    return Wrong(file, key, "a positive integer (at most 2147483647)", *v);
  }
  return *i;
}

absl::StatusOr<double> FloatField(const json& obj, std::string_view key,
                                  std::optional<double> default_value, std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  const json* v = Lookup(obj, key);
  if (v == nullptr) {
    if (default_value) return *default_value;
    return Missing(file, key, "a number");
  }
  if (!v->is_number()) return Wrong(file, key, "a number", *v);
  double d = v->get<double>();
  if (!std::isfinite(d)) return Wrong(file, key, "a finite number", *v);
  return d;
}

absl::StatusOr<std::string> StringField(const json& obj, std::string_view key,
                                        std::optional<std::string_view> default_value,
                                        std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  const json* v = Lookup(obj, key);
  if (v == nullptr) {
    if (default_value) return std::string(*default_value);
    return Missing(file, key, "a string");
  }
  if (!v->is_string()) return Wrong(file, key, "a string", *v);
  return v->get<std::string>();
}

}  // namespace

std::string QuoteForMessage(std::string_view s) {
  constexpr size_t kMax = 200;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

std::string JsonForMessage(const nlohmann::json& value) {
  std::string s;
  try {
    s = value.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (...) {
    return "<unprintable>";
  }
  constexpr size_t kMax = 80;
  if (s.size() > kMax) {
    s.resize(kMax);
    s += "...";
  }
  return s;
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source,
                                         const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(AV(source), ": ", text.size(),
                                                   " bytes of JSON exceed the limit of ",
                                                   limits.max_bytes));
  }
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  int depth = 0;
  json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (++depth > limits.max_depth) {
          throw JsonLimitError{absl::StrCat("nesting deeper than ", limits.max_depth)};
        }
        if (event == json::parse_event_t::object_start && limits.reject_duplicate_keys) {
          keys.emplace_back();
        }
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        --depth;
        if (event == json::parse_event_t::object_end && limits.reject_duplicate_keys &&
            !keys.empty()) {
          keys.pop_back();
        }
        break;
      case json::parse_event_t::key:
        if (limits.reject_duplicate_keys && !keys.empty() && parsed.is_string()) {
          if (!keys.back().insert(parsed.get<std::string>()).second) {
            throw JsonLimitError{
                absl::StrCat("duplicate key ", JsonForMessage(parsed), " in an object")};
          }
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const JsonLimitError& e) {
    return absl::InvalidArgumentError(absl::StrCat(AV(source), ": invalid JSON: ", e.message));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(source), ": invalid JSON: ", StripNlohmannPrefix(e.what())));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(AV(source), ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": file not found"));
    }
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": file of ", st.st_size,
                                                   " bytes exceeds the limit of ", max_bytes));
  }
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": read failed: ", std::strerror(errno)));
    }
    if (n == 0) break;  // file shrank while reading
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

absl::StatusOr<nlohmann::json> LoadJsonFile(const std::string& path, const JsonLimits& limits) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, limits.max_bytes);
  if (!text.ok()) return text.status();
  return ParseJson(*text, path, limits);
}

absl::StatusOr<int64_t> GetInt(const nlohmann::json& obj, std::string_view key,
                               int64_t default_value, std::string_view file) {
  return IntField(obj, key, default_value, /*positive=*/false, file);
}

absl::StatusOr<int64_t> RequireInt(const nlohmann::json& obj, std::string_view key,
                                   std::string_view file) {
  return IntField(obj, key, std::nullopt, /*positive=*/false, file);
}

absl::StatusOr<int64_t> GetPositiveInt(const nlohmann::json& obj, std::string_view key,
                                       int64_t default_value, std::string_view file) {
  return IntField(obj, key, default_value, /*positive=*/true, file);
}

absl::StatusOr<int64_t> RequirePositiveInt(const nlohmann::json& obj, std::string_view key,
                                           std::string_view file) {
  return IntField(obj, key, std::nullopt, /*positive=*/true, file);
}

absl::StatusOr<double> GetFloat(const nlohmann::json& obj, std::string_view key,
                                double default_value, std::string_view file) {
  return FloatField(obj, key, default_value, file);
}

absl::StatusOr<double> RequireFloat(const nlohmann::json& obj, std::string_view key,
                                    std::string_view file) {
  return FloatField(obj, key, std::nullopt, file);
}

absl::StatusOr<std::string> GetString(const nlohmann::json& obj, std::string_view key,
                                      std::string_view default_value, std::string_view file) {
  return StringField(obj, key, default_value, file);
}

absl::StatusOr<std::string> RequireString(const nlohmann::json& obj, std::string_view key,
                                          std::string_view file) {
  return StringField(obj, key, std::nullopt, file);
}

absl::StatusOr<bool> GetBool(const nlohmann::json& obj, std::string_view key, bool default_value,
                             std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  const json* v = Lookup(obj, key);
  if (v == nullptr) return default_value;
  if (!v->is_boolean()) return Wrong(file, key, "true or false", *v);
  return v->get<bool>();
}

absl::StatusOr<std::vector<std::string>> GetStringList(const nlohmann::json& obj,
                                                       std::string_view key,
                                                       std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  std::vector<std::string> out;
  const json* v = Lookup(obj, key);
  if (v == nullptr) return out;
  if (!v->is_array()) return Wrong(file, key, "a list of strings", *v);
  for (const json& item : *v) {
    if (!item.is_string()) return Wrong(file, key, "a list of strings", *v);
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::map<int64_t, std::string>> GetIntMap(const nlohmann::json& obj,
                                                         std::string_view key,
                                                         std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  std::map<int64_t, std::string> out;
  const json* v = Lookup(obj, key);
  if (v == nullptr) return out;
  if (!v->is_object()) {
    return Wrong(file, key, "an object mapping integer strings to strings", *v);
  }
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string& k = it.key();
    int64_t id = 0;
    bool canonical = !k.empty() && k.size() <= 18 &&
                     k.find_first_not_of("0123456789") == std::string::npos &&
                     (k.size() == 1 || k[0] != '0') && absl::SimpleAtoi(k, &id);
    if (!canonical) {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(file), ": '", AV(key), "' key ", JsonForMessage(json(k)), " is not a non-negative integer"));
    }
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(AV(file), ": '", AV(key), "' entry \"", k,
                                                     "\" must be a string, got ",
                                                     JsonForMessage(it.value())));
    }
    out.emplace(id, it.value().get<std::string>());
  }
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> GetStringToIntMap(const nlohmann::json& obj,
                                                                 std::string_view key,
                                                                 std::string_view file) {
  if (!obj.is_object()) return NotAnObject(obj, file);
  std::map<std::string, int64_t> out;
  const json* v = Lookup(obj, key);
  if (v == nullptr) return out;
  if (!v->is_object()) return Wrong(file, key, "an object mapping strings to integers", *v);
  for (auto it = v->begin(); it != v->end(); ++it) {
    std::optional<int64_t> id = AsInt(it.value());
    if (!id) {
      return absl::InvalidArgumentError(
          absl::StrCat(AV(file), ": '", AV(key), "' entry ", JsonForMessage(json(it.key())),
                       " must be an integer, got ", JsonForMessage(it.value())));
    }
    out.emplace(it.key(), *id);
  }
  return out;
}

std::optional<std::string> FirstPresentKey(const nlohmann::json& obj,
                                           std::initializer_list<std::string_view> keys) {
  if (!obj.is_object()) return std::nullopt;
  for (std::string_view k : keys) {
    if (Lookup(obj, k) != nullptr) return std::string(k);
  }
  return std::nullopt;
}

}  // namespace infer::model
