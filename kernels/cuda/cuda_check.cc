#include "kernels/cuda/cuda_check.h"

#include <cstdio>

#include "kernels/cuda/cublaslt_api.h"

namespace infer::kernels::cuda {

void ThrowCudaError(cudaError_t err, const char* expr, const char* file, int line) {
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ") in " + expr + " at " + file + ":" +
                    std::to_string(line);
  // Clear a sticky-free error so the next call does not report it again.
  cudaGetLastError();
  if (err == cudaErrorMemoryAllocation) throw DeviceOutOfMemory(msg);
  throw std::runtime_error(msg);
}

void ThrowCublasError(cublasStatus_t st, const char* expr, const char* file, int line) {
  const CublasLtApi* lt = CublasLt(nullptr);
  std::string msg = std::string("cuBLAS error ") +
                    (lt ? lt->GetStatusName(st) : std::to_string(static_cast<int>(st)).c_str()) +
                    " (" + (lt ? lt->GetStatusString(st) : "") + ") in " + expr + " at " + file +
                    ":" + std::to_string(line);
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw DeviceOutOfMemory(msg);
  throw std::runtime_error(msg);
}

}  // namespace infer::kernels::cuda
