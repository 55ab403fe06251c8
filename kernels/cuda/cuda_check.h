// CUDA and cuBLAS errors become C++ exceptions at the call site: the backend interface returns
// no status, and the engine turns exceptions from a forward pass into an error for that step
// (std::bad_alloc for out-of-memory, std::runtime_error otherwise).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <new>
#include <stdexcept>
#include <string>

namespace infer::kernels::cuda {

// Out of device memory: a std::bad_alloc whose what() names the sizes.
class DeviceOutOfMemory : public std::bad_alloc {
 public:
  explicit DeviceOutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

[[noreturn]] void ThrowCudaError(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void ThrowCublasError(cublasStatus_t st, const char* expr, const char* file,
                                   int line);

}  // namespace infer::kernels::cuda

#define INFER_CUDA_CHECK(expr)                                                         \
  do {                                                                                 \
    cudaError_t infer_err_ = (expr);                                                   \
    if (infer_err_ != cudaSuccess) {                                                   \
      ::infer::kernels::cuda::ThrowCudaError(infer_err_, #expr, __FILE__, __LINE__);   \
    }                                                                                  \
  } while (0)

#define INFER_CUBLAS_CHECK(expr)                                                       \
  do {                                                                                 \
    cublasStatus_t infer_st_ = (expr);                                                 \
    if (infer_st_ != CUBLAS_STATUS_SUCCESS) {                                          \
      ::infer::kernels::cuda::ThrowCublasError(infer_st_, #expr, __FILE__, __LINE__);  \
    }                                                                                  \
  } while (0)
