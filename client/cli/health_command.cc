// `infer-client health [SERVICE]`: grpc.health.v1 Check; exits 0 only when SERVING, so scripts
// and readiness probes can use the exit status alone.
#include <iostream>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

int RunHealth(const Context& context, const ParsedArgs& args) {
  if (args.positionals().size() > 1) throw UsageError("health takes at most one SERVICE");
  const std::string service = args.positionals().empty() ? "" : args.positionals()[0];
  const auto result = context.client->Health(service);
  if (!result.ok()) return ReportRpcError(result.status);
  const char* name = HealthStatusName(result.value);
  if (context.json) {
    // The JSON form of grpc.health.v1.HealthCheckResponse, as protobuf would print it.
    std::cout << "{\"status\":\"" << name << "\"}" << std::endl;
  } else {
    std::cout << name << std::endl;
  }
  return result.value == HealthStatus::kServing ? 0 : 1;
}

}  // namespace

Command HealthCommand() {
  return {"health", "health [SERVICE]",
          "grpc.health.v1 Check of the server (\"\") or a service; exit 0 when SERVING", {},
          &RunHealth};
}

}  // namespace infer::client::cli
