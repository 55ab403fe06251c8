// The hand-written grpc.health.v1 encoding against bytes protoc-generated code produces for the
// same messages (worked out from the protobuf wire format: key = field << 3 | wire type).
#include "client/health_codec.h"

#include <gtest/gtest.h>

namespace infer::client {
namespace {

TEST(HealthCodec, EmptyServiceIsAnEmptyMessage) { EXPECT_EQ(EncodeHealthCheckRequest(""), ""); }

TEST(HealthCodec, ServiceIsFieldOneLengthDelimited) {
  EXPECT_EQ(EncodeHealthCheckRequest("infer.v1.InferenceService"),
            std::string("\x0a\x19") + "infer.v1.InferenceService");
}

TEST(HealthCodec, LongServiceNameUsesMultiByteLength) {
  const std::string name(200, 'x');
  const std::string encoded = EncodeHealthCheckRequest(name);
  ASSERT_EQ(encoded.size(), 3 + name.size());
  EXPECT_EQ(encoded.substr(0, 3), std::string("\x0a\xc8\x01"));  // 200 = 0x48 | 0x80, 0x01
}

TEST(HealthCodec, DecodesEachStatus) {
  EXPECT_EQ(DecodeHealthCheckResponse(std::string("\x08\x01", 2)), HealthStatus::kServing);
  EXPECT_EQ(DecodeHealthCheckResponse(std::string("\x08\x02", 2)), HealthStatus::kNotServing);
  EXPECT_EQ(DecodeHealthCheckResponse(std::string("\x08\x03", 2)), HealthStatus::kServiceUnknown);
}

TEST(HealthCodec, AbsentStatusIsUnknown) {
  EXPECT_EQ(DecodeHealthCheckResponse(""), HealthStatus::kUnknown);
}

TEST(HealthCodec, SkipsUnknownFields) {
  // field 2 string "ab", field 3 fixed32, then status SERVING.
  const std::string bytes("\x12\x02" "ab" "\x1d\x00\x00\x00\x00" "\x08\x01", 11);
  EXPECT_EQ(DecodeHealthCheckResponse(bytes), HealthStatus::kServing);
}

TEST(HealthCodec, UnknownEnumValueReadsAsUnknown) {
  EXPECT_EQ(DecodeHealthCheckResponse(std::string("\x08\x09", 2)), HealthStatus::kUnknown);
}

TEST(HealthCodec, RejectsTruncatedMessages) {
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08", 1)).has_value());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x12\x05" "ab", 4)).has_value());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08\x80\x80", 3)).has_value());
}

TEST(HealthCodec, Names) {
  EXPECT_STREQ(HealthStatusName(HealthStatus::kServing), "SERVING");
  EXPECT_STREQ(HealthStatusName(HealthStatus::kNotServing), "NOT_SERVING");
}

}  // namespace
}  // namespace infer::client
