// Structured log lines on stderr: one JSON object per line (or key=value text), each with a
// timestamp, level and event name, so a log pipeline can index request ids, models and codes.
#pragma once

#include <mutex>
#include <string>

#include "nlohmann/json.hpp"

namespace infer::service {

class Logger {
 public:
  enum class Format { kJson, kText };
  explicit Logger(Format format = Format::kJson) : format_(format) {}

  // fields: a JSON object of extra fields ("request_id", "model", ...). Thread-safe.
  void Info(const std::string& event, const nlohmann::json& fields = nlohmann::json::object());
  void Warn(const std::string& event, const nlohmann::json& fields = nlohmann::json::object());
  void Error(const std::string& event, const nlohmann::json& fields = nlohmann::json::object());

 private:
  void Write(const char* level, const std::string& event, const nlohmann::json& fields);

  Format format_;
  std::mutex mu_;
};

}  // namespace infer::service
