#include "kernels/cuda/gemm.h"

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_allocator.h"

namespace infer::kernels::cuda {
namespace {

// 32 MiB: what cuBLASLt's Hopper kernels ask for at most on large shapes.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

cudaDataType_t CudaType(DType t) {
  switch (t) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF32: return CUDA_R_32F;
    default: throw std::invalid_argument(std::string("Linear: unsupported dtype ") + DTypeName(t));
  }
}

// Largest power of two (<= 256) dividing the address: cuBLASLt's kernels assume 256-byte
// alignment unless told otherwise, and Tensor::Rows views can start anywhere.
int Alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  int align = 256;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

}  // namespace

Gemm::Gemm(cudaStream_t stream, DeviceAllocator* alloc) : stream_(stream), alloc_(alloc) {
  std::string why;
  lt_ = CublasLt(&why);
  if (lt_ == nullptr) throw std::runtime_error("cuBLASLt unavailable: " + why);
  INFER_CUBLAS_CHECK(lt_->Create(&handle_));
  workspace_bytes_ = kWorkspaceBytes;
  workspace_ = alloc_->Allocate(workspace_bytes_);
}

Gemm::~Gemm() {
  for (auto& [key, plan] : plans_) {
    if (plan->desc) lt_->MatmulDescDestroy(plan->desc);
    if (plan->a) lt_->MatrixLayoutDestroy(plan->a);
    if (plan->b) lt_->MatrixLayoutDestroy(plan->b);
    if (plan->d) lt_->MatrixLayoutDestroy(plan->d);
  }
  if (handle_) lt_->Destroy(handle_);
  alloc_->Free(workspace_);
}

Gemm::Plan* Gemm::GetPlan(const Key& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t in_t = static_cast<cudaDataType_t>(key.in_t);
  const cudaDataType_t out_t = static_cast<cudaDataType_t>(key.out_t);
  // float32 inputs stay float32 (no TF32): the fp32 backend is there for fidelity.
  INFER_CUBLAS_CHECK(lt_->MatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  INFER_CUBLAS_CHECK(lt_->MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                    &op_t, sizeof(op_t)));
  INFER_CUBLAS_CHECK(lt_->MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                    &op_n, sizeof(op_n)));
  const auto epilogue = static_cast<cublasLtEpilogue_t>(key.epilogue);
  INFER_CUBLAS_CHECK(lt_->MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                    &epilogue, sizeof(epilogue)));
  // A = w: K x N column-major (ld K), transposed; B = x: K x M (ld K); D = y^T: N x M (ld N).
  INFER_CUBLAS_CHECK(lt_->MatrixLayoutCreate(&plan->a, in_t, key.k, key.n, key.k));
  INFER_CUBLAS_CHECK(lt_->MatrixLayoutCreate(&plan->b, in_t, key.k, key.m, key.k));
  INFER_CUBLAS_CHECK(lt_->MatrixLayoutCreate(&plan->d, out_t, key.n, key.m, key.n));

  cublasLtMatmulPreference_t pref;
  INFER_CUBLAS_CHECK(lt_->MatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes_;
  lt_->MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof(ws));
  const uint32_t ax = key.align_w, bx = key.align_x, dx = key.align_y;
  lt_->MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &ax,
                                       sizeof(ax));
  lt_->MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &bx,
                                       sizeof(bx));
  lt_->MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &dx,
                                       sizeof(dx));
  lt_->MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &dx,
                                       sizeof(dx));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = lt_->MatmulAlgoGetHeuristic(handle_, plan->desc, plan->a, plan->b,
                                                     plan->d, plan->d, pref, 1, &result, &found);
  lt_->MatmulPreferenceDestroy(pref);
  plan->ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
  if (plan->ok) plan->algo = result.algo;
  Plan* raw = plan.get();
  plans_.emplace(key, std::move(plan));
  return raw;
}

bool Gemm::Run(const void* x, const void* w, DType in_dtype, void* y, DType out_dtype,
               int64_t m, int64_t n, int64_t k, const void* bias, DType bias_dtype,
               Activation act) {
  if (m == 0 || n == 0) return true;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const bool bias_fits = bias == nullptr || bias_dtype == out_dtype;
  if (bias_fits) {
    if (act == Activation::kNone) {
      epilogue = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    } else if (act == Activation::kRelu) {
      epilogue = bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    } else if (act == Activation::kGeluTanh) {
      epilogue = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    }
  }
  const bool wants_epilogue = bias != nullptr || act != Activation::kNone;
  bool fused = wants_epilogue && epilogue != CUBLASLT_EPILOGUE_DEFAULT;
  Key key{m, n, k, CudaType(in_dtype), CudaType(out_dtype), static_cast<int>(epilogue),
          Alignment(x), Alignment(w), Alignment(y), bias ? Alignment(bias) : 256};
  Plan* plan = GetPlan(key);
  if (!plan->ok && fused) {
    // No kernel for the fused form (e.g. an unaligned bias): plain GEMM, epilogue separately.
    fused = false;
    key.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    plan = GetPlan(key);
  }
  if (!plan->ok) {
    throw std::runtime_error("cuBLASLt has no algorithm for Linear [" + std::to_string(m) +
                             ", " + std::to_string(k) + "] x [" + std::to_string(n) + ", " +
                             std::to_string(k) + "]^T");
  }
  if (fused && bias != nullptr) {
    INFER_CUBLAS_CHECK(lt_->MatmulDescSetAttribute(
        plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  INFER_CUBLAS_CHECK(lt_->Matmul(handle_, plan->desc, &alpha, w, plan->a, x, plan->b, &beta,
                                    y, plan->d, y, plan->d, &plan->algo, workspace_,
                                    workspace_bytes_, stream_));
  return fused || !wants_epilogue;
}

}  // namespace infer::kernels::cuda
