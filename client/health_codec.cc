#include "client/health_codec.h"

#include <cstdint>

namespace infer::client {
namespace {

constexpr int kWireVarint = 0;
constexpr int kWireFixed64 = 1;
constexpr int kWireLengthDelimited = 2;
constexpr int kWireFixed32 = 5;

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Reads a varint at *pos; false on truncation or on more than the 10 bytes a uint64 can take.
bool GetVarint(const std::string& in, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown: return "UNKNOWN";
    case HealthStatus::kServing: return "SERVING";
    case HealthStatus::kNotServing: return "NOT_SERVING";
    case HealthStatus::kServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

std::string EncodeHealthCheckRequest(const std::string& service) {
  std::string out;
  // proto3 leaves a default (empty) string off the wire; the server reads "" either way.
  if (service.empty()) return out;
  PutVarint((1u << 3) | kWireLengthDelimited, &out);
  PutVarint(service.size(), &out);
  out += service;
  return out;
}

std::optional<HealthStatus> DecodeHealthCheckResponse(const std::string& bytes) {
  uint64_t status = 0;  // absent field: proto3 default UNKNOWN
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint64_t key = 0;
    if (!GetVarint(bytes, &pos, &key)) return std::nullopt;
    const uint64_t field = key >> 3;
    const int wire = static_cast<int>(key & 7);
    uint64_t value = 0;
    switch (wire) {
      case kWireVarint:
        if (!GetVarint(bytes, &pos, &value)) return std::nullopt;
        if (field == 1) status = value;  // the last occurrence wins, as protobuf merges
        break;
      case kWireFixed64:
        if (bytes.size() - pos < 8) return std::nullopt;
        pos += 8;
        break;
      case kWireLengthDelimited:
        if (!GetVarint(bytes, &pos, &value) || bytes.size() - pos < value) return std::nullopt;
        pos += value;
        break;
      case kWireFixed32:
        if (bytes.size() - pos < 4) return std::nullopt;
        pos += 4;
        break;
      default:
        return std::nullopt;  // groups are not used by this message; anything else is garbage
    }
    if (field == 0) return std::nullopt;
  }
  // An enum value this client does not know (a newer server) reads as UNKNOWN, like proto3 does.
  if (status > static_cast<uint64_t>(HealthStatus::kServiceUnknown)) return HealthStatus::kUnknown;
  return static_cast<HealthStatus>(status);
}

}  // namespace infer::client
