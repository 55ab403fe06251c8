// What every infer-client subcommand is: a name, its flags and a function that runs it.
#pragma once

#include <string>
#include <vector>

#include "client/cli/args.h"
#include "client/infer_client.h"

namespace infer::client::cli {

// Settings shared by every command (the global flags).
struct Context {
  const InferenceClient* client = nullptr;
  // --json: one JSON object per response on stdout, nothing else there.
  bool json = false;
};

struct Command {
  std::string name;
  std::string synopsis;  // "generate [flags] PROMPT"
  std::string summary;
  std::vector<FlagSpec> flags;
  // Returns the process exit status: 0 on success, 1 when the RPC failed.
  int (*run)(const Context& context, const ParsedArgs& args) = nullptr;
};

Command GenerateCommand();
Command ClassifyCommand();
Command EmbedCommand();
Command TokenizeCommand();
Command ModelsCommand();
Command HealthCommand();
Command ExplainCommand();

}  // namespace infer::client::cli
