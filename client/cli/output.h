// Output conventions shared by the infer-client commands.
#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include "client/cli/args.h"

namespace infer::client::cli {

// protobuf's JSON mapping on one line, field names as in the .proto (snake_case), so scripts
// read the same keys the API documents. Fields at their default value are left out.
std::string ToJson(const google::protobuf::Message& message);
// Prints ToJson(message) and a newline on stdout, flushed so a pipe sees each stream message as
// it arrives.
void PrintJsonLine(const google::protobuf::Message& message);

// --request-json: the request is first filled from this JSON (protobuf's mapping; snake_case or
// camelCase keys), then the command's flags override it. It reaches fields no flag names.
inline const FlagSpec kRequestJsonFlag{"request-json", "JSON",
                                       "start from this request (protobuf JSON); flags override"};
void ApplyRequestJson(const ParsedArgs& args, google::protobuf::Message* request);

// "error: NOT_FOUND: unknown model 'x'" on stderr; returns the exit status for a failed RPC (1).
int ReportRpcError(const grpc::Status& status);

// %.4f-style formatting without iostream state juggling.
std::string Fixed(double value, int digits);

}  // namespace infer::client::cli
