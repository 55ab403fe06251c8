#include "kernels/tensor.h"

#include <cassert>
#include <sstream>

namespace infer::kernels {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
  }
  return 0;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

Tensor Tensor::Rows(int64_t begin, int64_t end) const {
  assert(!shape.empty() && begin >= 0 && begin <= end && end <= shape[0]);
  Tensor t = *this;
  int64_t row = shape[0] == 0 ? 0 : numel() / shape[0];
  t.data = static_cast<char*>(data) + begin * row * DTypeSize(dtype);
  t.shape[0] = end - begin;
  return t;
}

Tensor Tensor::Reshape(std::vector<int64_t> new_shape) const {
  Tensor t = *this;
  t.shape = std::move(new_shape);
  assert(t.numel() == numel());
  return t;
}

std::string Tensor::ShapeString() const {
  std::ostringstream os;
  os << DTypeName(dtype) << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << "]";
  return os.str();
}

}  // namespace infer::kernels
