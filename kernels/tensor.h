// A tensor is a typed view of backend-owned memory (host memory for the CPU backend, device
// memory for CUDA). Shapes are row-major; the last dimension is contiguous.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace infer::kernels {

enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kI64 };

size_t DTypeSize(DType t);
const char* DTypeName(DType t);

struct Tensor {
  std::shared_ptr<void> storage;  // keeps the allocation alive; null for a borrowed view
  void* data = nullptr;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
  int64_t dim(int i) const { return shape[i < 0 ? shape.size() + i : i]; }
  bool empty() const { return data == nullptr; }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }
  // A view of rows [begin, end) of the first dimension; shares the storage.
  Tensor Rows(int64_t begin, int64_t end) const;
  // Same memory, another shape with the same element count.
  Tensor Reshape(std::vector<int64_t> new_shape) const;
  std::string ShapeString() const;
};

}  // namespace infer::kernels
