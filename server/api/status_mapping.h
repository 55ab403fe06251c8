// The one place where engine errors (absl::Status) become gRPC statuses. absl's canonical codes
// and gRPC's share their numbers, so the mapping keeps the code and the message as they are; the
// engine already picks INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED / ... by DESIGN.md.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace infer::api {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace infer::api
