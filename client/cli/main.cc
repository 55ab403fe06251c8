// infer-client: a command-line client of infer.v1.InferenceService.
//
//   infer-client [--target HOST:PORT] [--timeout S] [--request-id ID] [--wait S] [--json] COMMAND
//                ...
//
// Global flags may stand before or after the command. Exit status: 0 success, 1 the RPC failed
// (the gRPC code name and message are on stderr) or health is not SERVING, 2 a usage error.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli/args.h"
#include "client/cli/command.h"

namespace infer::client::cli {
namespace {

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"target", "HOST:PORT", "server address (default localhost:50051)"},
      {"timeout", "SECONDS", "deadline of the call (default: none)"},
      {"request-id", "ID", "x-request-id metadata sent with the call"},
      {"wait", "SECONDS", "first wait up to this long for the server to accept connections"},
      {"json", "", "print each response as one JSON line (protobuf JSON, snake_case)"},
      {"help", "", "show help (after a command: that command's flags)"},
  };
}

std::vector<Command> AllCommands() {
  return {GenerateCommand(), ClassifyCommand(), EmbedCommand(), TokenizeCommand(),
          ExplainCommand(),  ModelsCommand(),   HealthCommand()};
}

void PrintUsage(std::ostream& out) {
  out << "usage: infer-client [global flags] COMMAND [flags] [ARGS]\n\ncommands:\n";
  for (const auto& command : AllCommands()) {
    out << "  " << command.synopsis << "\n      " << command.summary << "\n";
  }
  out << "\nglobal flags:\n" << FormatFlags(GlobalFlags())
      << "\n`infer-client COMMAND --help` lists a command's flags.\n";
}

void PrintCommandHelp(const Command& command) {
  std::cout << "usage: infer-client [global flags] " << command.synopsis << "\n"
            << command.summary << "\n";
  if (!command.flags.empty()) std::cout << "\nflags:\n" << FormatFlags(command.flags);
  std::cout << "\nglobal flags:\n" << FormatFlags(GlobalFlags());
}

// The index of the command word: the first argument that is neither a flag nor the value of a
// global flag written as `--flag value`.
size_t FindCommand(const std::vector<std::string>& args) {
  const auto globals = GlobalFlags();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) return i;
    if (arg.find('=') != std::string::npos) continue;
    for (const auto& spec : globals) {
      if (arg == "--" + spec.name && !spec.value_name.empty()) ++i;  // skip its value
    }
  }
  return args.size();
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& arg : args) {
    if (arg == "-h") arg = "--help";
  }
  const size_t at = FindCommand(args);
  if (at == args.size()) {
    const bool asked = std::find(args.begin(), args.end(), "--help") != args.end();
    PrintUsage(asked ? std::cout : std::cerr);
    return asked ? 0 : 2;
  }
  const std::string name = args[at];
  const auto commands = AllCommands();
  const auto command = std::find_if(commands.begin(), commands.end(),
                                    [&](const Command& c) { return c.name == name; });
  if (command == commands.end()) {
    std::cerr << "error: unknown command '" << name << "'\n\n";
    PrintUsage(std::cerr);
    return 2;
  }
  args.erase(args.begin() + static_cast<std::ptrdiff_t>(at));

  auto specs = GlobalFlags();
  specs.insert(specs.end(), command->flags.begin(), command->flags.end());
  try {
    const ParsedArgs parsed = ParsedArgs::Parse(args, specs);
    if (parsed.Bool("help").value_or(false)) {
      PrintCommandHelp(*command);
      return 0;
    }
    ClientOptions options;
    if (auto seconds = parsed.Double("timeout")) {
      if (!(*seconds > 0) || !std::isfinite(*seconds)) throw UsageError("--timeout must be > 0");
      options.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(*seconds * 1000)));
    }
    options.request_id = parsed.String("request-id").value_or("");
    const InferenceClient client(parsed.String("target").value_or("localhost:50051"), options);
    if (auto seconds = parsed.Double("wait")) {
      // For scripts that start a server and call it at once: without this the first call fails
      // fast with UNAVAILABLE while the server is still binding its port.
      const auto wait = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
      if (!client.WaitForReady(wait)) {
        std::cerr << "error: UNAVAILABLE: no connection to the server within " << *seconds
                  << " s" << std::endl;
        return 1;
      }
    }
    Context context;
    context.client = &client;
    context.json = parsed.Bool("json").value_or(false);
    return command->run(context, parsed);
  } catch (const UsageError& error) {
    std::cerr << "error: " << error.what() << "\n(see infer-client " << name << " --help)"
              << std::endl;
    return 2;
  }
}

}  // namespace
}  // namespace infer::client::cli

int main(int argc, char** argv) { return infer::client::cli::Main(argc, argv); }
