// Linear layers through cuBLASLt: y[M,N] = act(x[M,K] . w[N,K]^T + bias[N]) with 16-bit or
// float32 inputs and float32 accumulation. Row-major y is column-major y^T = w . x^T, so the
// call is D(N x M) = op_T(A = w, K x N) . op_N(B = x, K x M).
//
// The bias and the activation ride in cuBLASLt's epilogue where it has one with our exact math
// (BIAS, RELU_BIAS, GELU_BIAS: cuBLASLt's GELU is the tanh form, PyTorch's gelu(approximate=
// "tanh") = GPT-2's gelu_new) and the bias has the output's type; the caller runs the rest as a
// separate kernel. Algorithm choices are cached per shape, types and alignment.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/backend.h"
#include "kernels/cuda/cublaslt_api.h"

namespace infer::kernels::cuda {

class DeviceAllocator;

class Gemm {
 public:
  Gemm(cudaStream_t stream, DeviceAllocator* alloc);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // Returns true when bias and act were applied in the epilogue; false means y holds x.w^T
  // only... unless `fuse` was false, in which case no epilogue is tried.
  bool Run(const void* x, const void* w, DType in_dtype, void* y, DType out_dtype, int64_t m,
           int64_t n, int64_t k, const void* bias, DType bias_dtype, Activation act);

 private:
  struct Key {
    int64_t m, n, k;
    int in_t, out_t, epilogue, align_x, align_w, align_y, align_bias;
    auto tie() const {
      return std::tie(m, n, k, in_t, out_t, epilogue, align_x, align_w, align_y, align_bias);
    }
    bool operator<(const Key& o) const { return tie() < o.tie(); }
  };
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool ok = false;
  };
  Plan* GetPlan(const Key& key);

  cudaStream_t stream_;
  DeviceAllocator* alloc_;
  const CublasLtApi* lt_ = nullptr;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::mutex mu_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace infer::kernels::cuda
