// Minimal command-line parsing for infer-cli and infer-server: positional arguments and --flag[=| ]value options.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::tools {

class CliArgs {
 public:
  // Flags listed in `boolean` take no value.
  static absl::StatusOr<CliArgs> Parse(int argc, char** argv, const std::vector<std::string>& boolean);

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& flag) const { return flags_.count(flag) > 0; }
  // The last value of a flag given several times.
  std::optional<std::string> Get(const std::string& flag) const;
  // Every value of a repeatable flag, in command-line order.
  std::vector<std::string> GetAll(const std::string& flag) const;
  absl::StatusOr<std::optional<int64_t>> GetInt(const std::string& flag) const;
  absl::StatusOr<std::optional<double>> GetDouble(const std::string& flag) const;
  // Flags given but never read: typos get an error instead of being ignored.
  std::vector<std::string> Unread() const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> flags_;
  mutable std::map<std::string, bool> read_;
};

}  // namespace infer::tools
