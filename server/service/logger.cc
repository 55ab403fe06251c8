#include "server/service/logger.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace infer::service {
namespace {

// RFC 3339 UTC with milliseconds: sortable and what log collectors parse by default.
std::string Timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

}  // namespace

void Logger::Info(const std::string& event, const nlohmann::json& fields) {
  Write("info", event, fields);
}
void Logger::Warn(const std::string& event, const nlohmann::json& fields) {
  Write("warn", event, fields);
}
void Logger::Error(const std::string& event, const nlohmann::json& fields) {
  Write("error", event, fields);
}

void Logger::Write(const char* level, const std::string& event, const nlohmann::json& fields) {
  std::string line;
  if (format_ == Format::kJson) {
    nlohmann::json j = {{"ts", Timestamp()}, {"level", level}, {"event", event}};
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) j[k] = v;
    }
    // Replace invalid UTF-8 (client text echoed into a message) rather than throw.
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = Timestamp() + " " + level + " " + event;
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        line += " " + k + "=" +
                (v.is_string() ? v.get<std::string>()
                               : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace infer::service
