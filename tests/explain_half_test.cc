// IEEE binary16 conversion: every half round-trips, ties round to even, overflow and
// subnormals land where the standard says.
#include "server/explain/half.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace infer::explain {
namespace {

TEST(ExplainHalf, KnownValues) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f / 3.0f), 0x3555);  // 0.333251953125 is the nearest half
}

TEST(ExplainHalf, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      // A signalling NaN comes back quiet; payload and sign stay.
      ASSERT_EQ(FloatToHalf(f), h | 0x200) << std::hex << h;
    } else {
      ASSERT_EQ(FloatToHalf(f), h) << std::hex << h << " " << f;
    }
  }
}

// Between each pair of adjacent finite halves: the midpoint goes to the even one, the floats
// just either side of it to the nearer one.
TEST(ExplainHalf, MidpointsRoundToEven) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float lo = HalfToFloat(static_cast<uint16_t>(h));
    const float hi = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = 0.5f * (lo + hi);  // exact: floats have 13 more mantissa bits
    ASSERT_EQ(FloatToHalf(mid), (h & 1) ? h + 1 : h) << std::hex << h;
    ASSERT_EQ(FloatToHalf(std::nextafter(mid, hi)), h + 1) << std::hex << h;
    ASSERT_EQ(FloatToHalf(std::nextafter(mid, lo)), h) << std::hex << h;
    ASSERT_EQ(FloatToHalf(-mid), ((h & 1) ? h + 1 : h) | 0x8000) << std::hex << h;
  }
}

TEST(ExplainHalf, TiesNearOne) {
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie, 0x3c00 even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, 0x3c02 even
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
}

TEST(ExplainHalf, OverflowGoesToInfinity) {
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // the tie goes to the even neighbour: 2^16
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
}

TEST(ExplainHalf, Subnormals) {
  const float unit = std::ldexp(1.0f, -24);  // the smallest half
  EXPECT_EQ(FloatToHalf(unit), 0x0001);
  EXPECT_EQ(FloatToHalf(-unit), 0x8001);
  EXPECT_EQ(FloatToHalf(0.5f * unit), 0x0000);  // tie between 0 and 1 unit: even is 0
  EXPECT_EQ(FloatToHalf(-0.5f * unit), 0x8000);
  EXPECT_EQ(FloatToHalf(std::nextafter(0.5f * unit, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(1.5f * unit), 0x0002);  // tie between 1 and 2 units: 2
  EXPECT_EQ(FloatToHalf(2.5f * unit), 0x0002);  // tie between 2 and 3 units: 2
  EXPECT_EQ(FloatToHalf(0.25f * unit), 0x0000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToHalf(1023.0f * unit), 0x03ff);
  EXPECT_EQ(FloatToHalf(1023.5f * unit), 0x0400);  // rounds up into the smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);
}

TEST(ExplainHalf, NaNStaysNaN) {
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  const uint16_t h = FloatToHalf(qnan);
  EXPECT_EQ(h & 0x7c00, 0x7c00);
  EXPECT_NE(h & 0x3ff, 0);
  EXPECT_TRUE(std::isnan(HalfToFloat(h)));
  EXPECT_EQ(FloatToHalf(-qnan) & 0x8000, 0x8000);
  // A NaN whose payload is only in bits the half drops must not turn into infinity.
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::bit_cast<float>(0x7f800001u)))));
}

#if defined(__F16C__)
// The x86 conversion instruction is an independent implementation of the same rounding: compare
// on a sweep of float bit patterns (every 997th, all signs, exponents, NaNs).
TEST(ExplainHalf, MatchesF16CInstruction) {
  for (uint64_t u = 0; u <= 0xffffffffull; u += 997) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(u));
    const uint16_t want = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    ASSERT_EQ(FloatToHalf(f), want) << std::hex << u;
    ASSERT_EQ(std::bit_cast<uint32_t>(HalfToFloat(want)),
              std::bit_cast<uint32_t>(_cvtsh_ss(want)))
        << std::hex << want;
  }
}
#endif

TEST(ExplainHalf, AppendHalvesIsLittleEndianAndAppends) {
  std::string out = "x";
  const std::vector<float> in = {1.0f, -2.0f, 65504.0f};
  AppendHalves(in, &out);
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out, std::string("x\x00\x3c\x00\xc0\xff\x7b", 7));
  AppendHalves({}, &out);
  EXPECT_EQ(out.size(), 7u);
}

}  // namespace
}  // namespace infer::explain
