// Command-line parsing for infer-client: flags are declared per command, so an unknown or
// misspelt flag is an error before any RPC is made instead of being silently ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace infer::client::cli {

// A mistake in the command line; main prints it with the usage hint and exits with 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // "" for a boolean switch; otherwise shown in help ("N", "TEXT")
  std::string help;
  bool repeatable = false;
};

// The flags and positionals of one command line. Accepted forms: `--flag value`, `--flag=value`,
// a bare `--switch` (true) or `--switch=false`, and `--` to end flags (for a prompt starting
// with "--"). Everything that does not start with "--" is positional, so "-3 degrees" is text.
class ParsedArgs {
 public:
  // Parses `args` against `specs`; throws UsageError on unknown flags, missing values or a
  // non-repeatable flag given twice.
  static ParsedArgs Parse(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }

  std::optional<std::string> String(const std::string& name) const;
  std::vector<std::string> All(const std::string& name) const;  // every occurrence, in order
  std::optional<int64_t> Int(const std::string& name) const;
  std::optional<uint64_t> Uint(const std::string& name) const;
  std::optional<double> Double(const std::string& name) const;
  // Switches: absent -> nullopt, bare -> true, =true/false/1/0/yes/no -> that value.
  std::optional<bool> Bool(const std::string& name) const;

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::vector<std::string>> values_;
};

// "a,b,,c" -> {"a", "b", "c"}: empty items dropped.
std::vector<std::string> SplitList(const std::string& text);
// "0,2-4" -> {0, 2, 3, 4}; throws UsageError naming `flag` on anything else.
std::vector<uint32_t> ParseIndexList(const std::string& text, const std::string& flag);
// "50256,198" -> {50256, 198}.
std::vector<int32_t> ParseIdList(const std::string& text, const std::string& flag);

// Help text for a list of flags, one per line, aligned.
std::string FormatFlags(const std::vector<FlagSpec>& specs);

}  // namespace infer::client::cli
