// Backend-independent defaults: conversions done on the host around raw copies, and fused ops
// composed from their parts. Backends override them where a fused kernel pays.
#include "kernels/backend.h"

#include <stdexcept>
#include <vector>

#include "kernels/half_convert.h"

namespace infer::kernels {

void Backend::CopyFromHostF32(const float* src, Tensor& dst) {
  if (dst.dtype == DType::kF32) {
    CopyFromHost(src, dst);
    return;
  }
  std::vector<uint16_t> tmp(static_cast<size_t>(dst.numel()));
  if (dst.dtype == DType::kF16) {
    FloatsToHalf(src, tmp.data(), tmp.size());
  } else if (dst.dtype == DType::kBF16) {
    FloatsToBf16(src, tmp.data(), tmp.size());
  } else {
    throw std::invalid_argument(std::string("CopyFromHostF32 into ") + DTypeName(dst.dtype));
  }
  CopyFromHost(tmp.data(), dst);
}

void Backend::CopyToHostF32(const Tensor& src, float* dst) {
  if (src.dtype == DType::kF32) {
    CopyToHost(src, dst);
    return;
  }
  std::vector<uint16_t> tmp(static_cast<size_t>(src.numel()));
  CopyToHost(src, tmp.data());
  if (src.dtype == DType::kF16) {
    HalfToFloats(tmp.data(), dst, tmp.size());
  } else if (src.dtype == DType::kBF16) {
    Bf16ToFloats(tmp.data(), dst, tmp.size());
  } else {
    throw std::invalid_argument(std::string("CopyToHostF32 from ") + DTypeName(src.dtype));
  }
}

Tensor Backend::UploadWeight(const float* host, std::vector<int64_t> shape) {
  Tensor t = Alloc(std::move(shape), ActivationDType());
  CopyFromHostF32(host, t);
  return t;
}

void Backend::AddLayerNorm(Tensor& x, const Tensor& h, const Tensor& gamma, const Tensor& beta,
                           float eps, Tensor& y) {
  AddInPlace(x, h);
  LayerNorm(x, gamma, beta, eps, y);
}

void Backend::AddRmsNorm(Tensor& x, const Tensor& h, const Tensor& gamma, float eps, Tensor& y) {
  AddInPlace(x, h);
  RmsNorm(x, gamma, eps, y);
}

}  // namespace infer::kernels
