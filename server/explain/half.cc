#include "server/explain/half.h"

#include <bit>

namespace infer::explain {

uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // infinity or NaN
    if (abs == 0x7f800000u) return sign | 0x7c00u;
    // The quiet bit guarantees a non-zero mantissa even when the payload sits in the low bits.
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  // 65520 is the midpoint between the largest half (65504) and 2^16; ties go to the even
  // neighbour, which is the overflow, so everything from there up is infinity.
  if (abs >= 0x477ff000u) return sign | 0x7c00u;
  if (abs >= 0x38800000u) {  // a normal half (>= 2^-14)
    // Rebias the exponent (127 -> 15) in place, then round away the 13 low mantissa bits; a
    // carry out of the mantissa correctly bumps the exponent.
    uint32_t m = abs - (112u << 23);
    m += 0x0fffu + ((m >> 13) & 1u);
    return static_cast<uint16_t>(sign | (m >> 13));
  }
  // Subnormal half: the result counts units of 2^-24.
  const uint32_t exp = abs >> 23;
  if (exp < 102) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to even 0)
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;  // explicit leading one
  const uint32_t shift = 126 - exp;                      // 14..24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (q & 1u))) ++q;  // may reach 0x400: smallest normal
  return static_cast<uint16_t>(sign | q);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal: normalise the mantissa; the float exponent drops by one per shift.
  uint32_t e = 113;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

void AppendHalves(std::span<const float> in, std::string* out) {
  const size_t base = out->size();
  out->resize(base + 2 * in.size());
  char* p = out->data() + base;
  for (float v : in) {
    const uint16_t h = FloatToHalf(v);
    *p++ = static_cast<char>(h & 0xffu);
    *p++ = static_cast<char>(h >> 8);
  }
}

}  // namespace infer::explain
