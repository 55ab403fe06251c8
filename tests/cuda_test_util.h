// Shared pieces of the CUDA tests: every op is run on the CPU backend (the reference) and on the
// CUDA backend with the same inputs, rounded once to the CUDA storage type so both see identical
// values, and compared by relative error ||out - ref|| / ||ref||. Without a device the tests skip
// and say why; the binaries are always built.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/half_convert.h"

namespace infer::testing {

// The CUDA backend for `dtype`, or a GTEST_SKIP naming why there is none.
#define INFER_CUDA_BACKEND_OR_SKIP(var, dtype_)                                    \
  std::unique_ptr<::infer::kernels::Backend> var;                                  \
  {                                                                                \
    std::string why_;                                                              \
    ::infer::kernels::CudaBackendOptions o_;                                       \
    o_.dtype = (dtype_);                                                           \
    var = ::infer::kernels::MakeCudaBackend(o_, &why_);                            \
    if (!var) GTEST_SKIP() << "CUDA test skipped, no CUDA backend here: " << why_; \
  }

// Values a dtype can hold exactly, so CPU float32 and GPU 16-bit runs start from the same data.
inline float RoundTo(float v, kernels::DType dtype) {
  if (dtype == kernels::DType::kBF16) return kernels::Bf16ToFloat(kernels::FloatToBf16(v));
  if (dtype == kernels::DType::kF16) {
    uint16_t h;
    float f;
    kernels::FloatsToHalf(&v, &h, 1);
    kernels::HalfToFloats(&h, &f, 1);
    return f;
  }
  return v;
}

inline std::vector<float> RandomValues(size_t n, uint64_t seed, kernels::DType dtype,
                                       float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = RoundTo(dist(rng), dtype);
  return v;
}

// ||a - b|| / ||b||, and +inf when either holds a NaN or an infinity (NaN never passes).
inline double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Relative error a 16-bit result may show against float32: BF16 keeps 8 significant bits.
inline double Tolerance(kernels::DType dtype) {
  switch (dtype) {
    case kernels::DType::kBF16: return 1.6e-2;
    case kernels::DType::kF16: return 2e-3;
    default: return 1e-5;
  }
}

// A backend tensor filled from host floats (converted to its dtype).
inline kernels::Tensor Upload(kernels::Backend& be, const std::vector<float>& v,
                              std::vector<int64_t> shape, kernels::DType dtype) {
  kernels::Tensor t = be.Alloc(std::move(shape), dtype);
  be.CopyFromHostF32(v.data(), t);
  return t;
}

inline std::vector<float> Download(kernels::Backend& be, const kernels::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  be.CopyToHostF32(t, v.data());
  return v;
}

// Fills a tensor's bytes with 0xFF (NaN in every float type) so an output the kernel failed to
// write shows up as NaN instead of as a stale correct value.
inline void Poison(kernels::Backend& be, kernels::Tensor& t) {
  std::vector<uint8_t> bytes(t.nbytes(), 0xFF);
  be.CopyFromHost(bytes.data(), t);
}

}  // namespace infer::testing
