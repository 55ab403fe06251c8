#include "client/cli/output.h"

#include <cstdio>
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "client/infer_client.h"

namespace infer::client::cli {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  // Only a message with invalid UTF-8 or similar can fail; say so rather than print nothing.
  if (!status.ok()) return "{\"error\": \"cannot print message as JSON\"}";
  return out;
}

void PrintJsonLine(const google::protobuf::Message& message) {
  std::cout << ToJson(message) << std::endl;
}

void ApplyRequestJson(const ParsedArgs& args, google::protobuf::Message* request) {
  auto json = args.String(kRequestJsonFlag.name);
  if (!json) return;
  auto status = google::protobuf::util::JsonStringToMessage(*json, request);
  if (!status.ok()) {
    throw UsageError("--request-json: " + std::string(status.message()));
  }
}

int ReportRpcError(const grpc::Status& status) {
  std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message()
            << std::endl;
  return 1;
}

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

}  // namespace infer::client::cli
