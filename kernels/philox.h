// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
// generator of Random123, cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10 and PyTorch's CUDA RNG), as a
// pure function usable from host C++ and CUDA device code, plus the exact mapping from a
// sampling row's (seed, step) to the token draw, shared by kernels/cpu/sampling.cc and
// kernels/cuda/sampling.cu so that both backends draw identically.
//
// Philox4x32-10: counter c = (c0, c1, c2, c3), key k = (k0, k1), 10 rounds; round r (r = 0..9)
// uses the key bumped r times by (0x9E3779B9, 0xBB67AE85) and maps
//   (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))
// with M0 = 0xD2511F53, M1 = 0xCD9E8D57 (hi/lo: the halves of the 64-bit product). Checked in
// tests/sampling_op_test.cc against Random123's known-answer vectors (kat_vectors).
//
// The draw of one sampling row (SampleRow):
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (step & 0xffffffff, step >> 32, draw, 0)      draw = 0 for the token draw
//   x       = Philox4x32_10(counter, key)
//   u53     = (uint64(x0) << 21) | (x1 >> 11)               uniform integer in [0, 2^53)
//   u       = u53 * 2^-53                                   uniform double in [0, 1)
// (floats: (x0 >> 8) * 2^-24 in [0, 1).) The row's index in the batch is not part of the counter,
// so a sequence draws the same token whichever batch slot it occupies.
//
// Inverse CDF in fixed point (SampleDrawThreshold / ExpToFixed): with m the row's largest
// processed score, token i gets the integer weight w_i = trunc(exp(s_i - m) * 2^shift)
// (exp in float32, removed tokens weigh 0), shift = 63 - ceil(log2(max(vocab, 2))) so that the sum
// of all weights fits in 63 bits; total = sum w_i; the token is the first index i (vocabulary
// order) whose cumulative weight C_i = w_0 + ... + w_i exceeds t = floor(u53 * total / 2^53),
// i.e. the first i with C_i > u * total. Integer sums do not depend on the summation order, so the
// GPU's parallel scan and the CPU's loop pick the same token whenever their float32 exp values
// agree (they can differ by an ulp: glibc's expf vs CUDA's expf).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define INFER_PHILOX_FN __host__ __device__ __forceinline__
#else
#define INFER_PHILOX_FN inline
#endif

namespace infer::kernels::philox {

struct Counter {
  uint32_t x[4];
};
struct Key {
  uint32_t k[2];
};

constexpr uint32_t kM0 = 0xD2511F53u;
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;
constexpr uint32_t kW1 = 0xBB67AE85u;

INFER_PHILOX_FN uint32_t MulHi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

INFER_PHILOX_FN Counter Philox4x32_10(Counter c, Key key) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      key.k[0] += kW0;
      key.k[1] += kW1;
    }
    const uint32_t hi0 = MulHi32(kM0, c.x[0]);
    const uint32_t lo0 = kM0 * c.x[0];
    const uint32_t hi1 = MulHi32(kM1, c.x[2]);
    const uint32_t lo1 = kM1 * c.x[2];
    c = Counter{{hi1 ^ c.x[1] ^ key.k[0], lo1, hi0 ^ c.x[3] ^ key.k[1], lo0}};
  }
  return c;
}

// The four Philox words of draw `draw` of (seed, step).
INFER_PHILOX_FN Counter DrawWords(uint64_t seed, uint64_t step, uint32_t draw = 0) {
  const Counter c{{static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), draw, 0u}};
  const Key k{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  return Philox4x32_10(c, k);
}

// Uniform integer in [0, 2^53) of draw `draw` of (seed, step).
INFER_PHILOX_FN uint64_t Uniform53(uint64_t seed, uint64_t step, uint32_t draw = 0) {
  const Counter x = DrawWords(seed, step, draw);
  return (static_cast<uint64_t>(x.x[0]) << 21) | (x.x[1] >> 11);
}

// Uniform double in [0, 1): Uniform53 * 2^-53 (exact).
INFER_PHILOX_FN double UniformDouble(uint64_t seed, uint64_t step, uint32_t draw = 0) {
  return static_cast<double>(Uniform53(seed, step, draw)) * 0x1p-53;
}

// Uniform float in [0, 1): the top 24 bits of word 0 times 2^-24 (exact).
INFER_PHILOX_FN float UniformFloat(uint64_t seed, uint64_t step, uint32_t draw = 0) {
  return static_cast<float>(DrawWords(seed, step, draw).x[0] >> 8) * 0x1p-24f;
}

// floor(u53 * total / 2^53) without overflow: the cumulative weight the draw must exceed.
// Smaller than total whenever total > 0 (u53 < 2^53).
INFER_PHILOX_FN uint64_t SampleDrawThreshold(uint64_t u53, uint64_t total) {
#if defined(__CUDA_ARCH__)
  const uint64_t hi = __umul64hi(u53, total);
  const uint64_t lo = u53 * total;
  return (hi << 11) | (lo >> 53);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(u53) * total) >> 53);
#endif
}

// The fixed-point shift of the draw weights for a vocabulary of n tokens:
// 63 - ceil(log2(max(n, 2))), so that n weights of at most 2^shift sum to at most 2^63.
INFER_PHILOX_FN int DrawWeightShift(int64_t n) {
  int bits = 1;
  while (bits < 62 && (int64_t{1} << bits) < n) ++bits;
  return 63 - bits;
}

// trunc(e * 2^shift) for e = exp(s - max) in [0, 1]; 0 for e <= 0 or NaN. The product is exact
// in float32 (a power of two), the conversion truncates.
INFER_PHILOX_FN uint64_t ExpToFixed(float e, int shift) {
  if (!(e > 0.0f)) return 0;
  if (e >= 1.0f) return uint64_t{1} << shift;
  const float scaled = e * static_cast<float>(uint64_t{1} << shift);
  return static_cast<uint64_t>(scaled);
}

}  // namespace infer::kernels::philox
