#include "server/util/cli_args.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace infer::tools {

absl::StatusOr<CliArgs> CliArgs::Parse(int argc, char** argv,
                                       const std::vector<std::string>& boolean) {
  CliArgs a;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      a.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (std::find(boolean.begin(), boolean.end(), name) != boolean.end()) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    a.flags_[name].push_back(value);
  }
  return a;
}

std::optional<std::string> CliArgs::Get(const std::string& flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return std::nullopt;
  read_[flag] = true;
  return it->second.back();
}

std::vector<std::string> CliArgs::GetAll(const std::string& flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return {};
  read_[flag] = true;
  return it->second;
}

absl::StatusOr<std::optional<int64_t>> CliArgs::GetInt(const std::string& flag) const {
  std::optional<std::string> v = Get(flag);
  if (!v) return std::optional<int64_t>();
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be an integer, got \"", *v, "\""));
  }
  return std::optional<int64_t>(x);
}

absl::StatusOr<std::optional<double>> CliArgs::GetDouble(const std::string& flag) const {
  std::optional<std::string> v = Get(flag);
  if (!v) return std::optional<double>();
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a number, got \"", *v, "\""));
  }
  return std::optional<double>(x);
}

std::vector<std::string> CliArgs::Unread() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : flags_) {
    if (!read_.count(k)) out.push_back(k);
  }
  return out;
}

}  // namespace infer::tools
