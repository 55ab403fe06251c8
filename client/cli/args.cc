#include "client/cli/args.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

namespace infer::client::cli {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const auto& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

template <typename T>
T ParseNumber(const std::string& text, const std::string& flag) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw UsageError("--" + flag + ": '" + text + "' is not a valid number");
  }
  return value;
}

}  // namespace

ParsedArgs ParsedArgs::Parse(const std::vector<std::string>& args,
                             const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      parsed.positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* spec = FindSpec(specs, name);
    if (spec == nullptr) throw UsageError("unknown flag --" + name);
    if (!spec->value_name.empty() && !value) {
      if (i + 1 >= args.size()) {
        throw UsageError("--" + name + " needs a value " + spec->value_name);
      }
      value = args[++i];
    }
    auto& slot = parsed.values_[name];
    if (!slot.empty() && !spec->repeatable) throw UsageError("--" + name + " given twice");
    slot.push_back(value.value_or("true"));
  }
  return parsed;
}

std::optional<std::string> ParsedArgs::String(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::All(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<int64_t> ParsedArgs::Int(const std::string& name) const {
  auto text = String(name);
  if (!text) return std::nullopt;
  return ParseNumber<int64_t>(*text, name);
}

std::optional<uint64_t> ParsedArgs::Uint(const std::string& name) const {
  auto text = String(name);
  if (!text) return std::nullopt;
  return ParseNumber<uint64_t>(*text, name);
}

std::optional<double> ParsedArgs::Double(const std::string& name) const {
  auto text = String(name);
  if (!text) return std::nullopt;
  return ParseNumber<double>(*text, name);
}

std::optional<bool> ParsedArgs::Bool(const std::string& name) const {
  auto text = String(name);
  if (!text) return std::nullopt;
  if (*text == "true" || *text == "1" || *text == "yes") return true;
  if (*text == "false" || *text == "0" || *text == "no") return false;
  throw UsageError("--" + name + ": expected true or false, got '" + *text + "'");
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::vector<uint32_t> ParseIndexList(const std::string& text, const std::string& flag) {
  std::vector<uint32_t> out;
  for (const auto& item : SplitList(text)) {
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      out.push_back(ParseNumber<uint32_t>(item, flag));
      continue;
    }
    const auto first = ParseNumber<uint32_t>(item.substr(0, dash), flag);
    const auto last = ParseNumber<uint32_t>(item.substr(dash + 1), flag);
    if (last < first) throw UsageError("--" + flag + ": empty range '" + item + "'");
    for (uint32_t i = first; i <= last; ++i) out.push_back(i);
  }
  return out;
}

std::vector<int32_t> ParseIdList(const std::string& text, const std::string& flag) {
  std::vector<int32_t> out;
  for (const auto& item : SplitList(text)) out.push_back(ParseNumber<int32_t>(item, flag));
  return out;
}

std::string FormatFlags(const std::vector<FlagSpec>& specs) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const auto& spec : specs) {
    std::string head = "  --" + spec.name;
    if (!spec.value_name.empty()) head += " " + spec.value_name;
    width = std::max(width, head.size());
    heads.push_back(std::move(head));
  }
  std::string out;
  for (size_t i = 0; i < specs.size(); ++i) {
    out += heads[i] + std::string(width - heads[i].size() + 2, ' ') + specs[i].help;
    if (specs[i].repeatable) out += " (repeatable)";
    out += "\n";
  }
  return out;
}

}  // namespace infer::client::cli
