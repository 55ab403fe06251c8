// IEEE 754 binary16 ("half") conversion for the FLOAT16 reply encoding: half the bytes of float32
// and about three significant digits, enough to draw a heat map.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace infer::explain {

// Round to nearest, ties to even; magnitudes from 65520 up become infinity; NaN stays NaN (sign
// kept, quiet bit set, top payload bits kept, as the F16C instruction does); results below 2^-14
// are correctly rounded subnormals.
uint16_t FloatToHalf(float f);

// Exact: every half is a float.
float HalfToFloat(uint16_t h);

// Appends each value as a little-endian half (2 bytes) to *out, whatever the host's byte order.
void AppendHalves(std::span<const float> in, std::string* out);

}  // namespace infer::explain
