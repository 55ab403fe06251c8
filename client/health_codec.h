// The two grpc.health.v1 messages, encoded by hand.
//
// Why not generated code: Debian's libgrpc++-dev ships no health.pb.h, and a copy of
// grpc/health/v1/health.proto compiled into this library would register a file named
// "grpc/health/v1/health.proto" in protobuf's global descriptor pool. Any binary that also links
// a server-side copy (a test linking client and server, for instance) would then abort at start-up
// with "File already exists in database". The messages are one field each, so encoding them
// directly is a few lines and cannot collide with anything.
#pragma once

#include <optional>
#include <string>

namespace infer::client {

// grpc.health.v1.HealthCheckResponse.ServingStatus, same numbers as the wire.
enum class HealthStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,  // only sent by Watch; Check answers NOT_FOUND instead
};

// "SERVING", "NOT_SERVING", ...: the names grpc_health_probe and the .proto use.
const char* HealthStatusName(HealthStatus status);

// HealthCheckRequest { string service = 1; } in protobuf wire format.
std::string EncodeHealthCheckRequest(const std::string& service);

// HealthCheckResponse { ServingStatus status = 1; }. Unknown fields are skipped as protobuf
// requires; nullopt when the bytes are not a well-formed message.
std::optional<HealthStatus> DecodeHealthCheckResponse(const std::string& bytes);

}  // namespace infer::client
