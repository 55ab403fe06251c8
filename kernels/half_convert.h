// Host conversions between float32 and the 16-bit storage types of device backends, with the
// rounding the GPU's own conversions use (round to nearest, ties to even; NaN stays NaN).
#pragma once

#include <cstddef>
#include <cstdint>

namespace infer::kernels {

uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t b);
void FloatsToHalf(const float* in, uint16_t* out, size_t n);
void HalfToFloats(const uint16_t* in, float* out, size_t n);
void FloatsToBf16(const float* in, uint16_t* out, size_t n);
void Bf16ToFloats(const uint16_t* in, float* out, size_t n);

}  // namespace infer::kernels
