// The CUDA backend: models resident in device memory, one stream per backend (one per engine),
// weights and activations in bf16/fp16 (or fp32), GEMMs through cuBLASLt, everything else our
// own kernels (kernels/cuda/*.cu). Host-visible work is limited to uploads of small index arrays
// and the copies the interface asks for.
#include <cuda_runtime.h>

#include <cassert>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_allocator.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/sampling.h"

namespace infer::kernels {
namespace {

using cuda::DeviceAllocator;

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, DType dtype, cudaStream_t stream)
      : device_(device),
        dtype_(dtype),
        stream_(stream),
        alloc_(std::make_shared<DeviceAllocator>(device)),
        gemm_(std::make_unique<cuda::Gemm>(stream, alloc_.get())) {}

  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  DType ActivationDType() const override { return dtype_; }

  MemoryInfo Memory() const override {
    Device();
    size_t free_b = 0, total_b = 0;
    INFER_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    MemoryInfo m;
    m.total_bytes = static_cast<int64_t>(total_b);
    // Blocks this backend caches but does not use are free for the KV cache too.
    m.free_bytes = static_cast<int64_t>(free_b) + alloc_->cached_bytes();
    return m;
  }

  void Synchronize() override {
    Device();
    INFER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  Tensor Alloc(std::vector<int64_t> shape, DType dtype) override {
    Device();
    Tensor t;
    t.shape = std::move(shape);
    t.dtype = dtype;
    void* p = alloc_->Allocate(std::max<size_t>(t.nbytes(), 1));
    std::shared_ptr<DeviceAllocator> alloc = alloc_;
    t.storage = std::shared_ptr<void>(p, [alloc](void* q) { alloc->Free(q); });
    t.data = p;
    return t;
  }

  Tensor Zeros(std::vector<int64_t> shape, DType dtype) override {
    Tensor t = Alloc(std::move(shape), dtype);
    INFER_CUDA_CHECK(cudaMemsetAsync(t.data, 0, t.nbytes(), stream_));
    return t;
  }

  void CopyFromHost(const void* src, Tensor& dst) override {
    Device();
    if (dst.nbytes() == 0) return;
    // From pageable memory the call returns once the source has been staged, so the caller may
    // free it right away; the stream orders the copy before later kernels.
    INFER_CUDA_CHECK(
        cudaMemcpyAsync(dst.data, src, dst.nbytes(), cudaMemcpyHostToDevice, stream_));
  }

  void CopyToHost(const Tensor& src, void* dst) override {
    Device();
    if (src.nbytes() == 0) return;
    INFER_CUDA_CHECK(
        cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_));
    INFER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void Copy(const Tensor& src, Tensor& dst) override {
    Device();
    if (src.nbytes() != dst.nbytes()) throw std::invalid_argument("Copy: sizes differ");
    if (src.nbytes() == 0) return;
    INFER_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.nbytes(),
                                     cudaMemcpyDeviceToDevice, stream_));
  }

  void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
              Tensor& y) override {
    Device();
    const int64_t k = x.dim(-1), m = x.numel() / k, n = w.dim(0);
    if (w.dim(1) != k || y.numel() != m * n || x.dtype != w.dtype) {
      throw std::invalid_argument("Linear: x " + x.ShapeString() + " w " + w.ShapeString() +
                                  " y " + y.ShapeString() + " do not fit");
    }
    if (m == 0) return;
    const void* b = bias && !bias->empty() ? bias->data : nullptr;
    const DType bias_dtype = b ? bias->dtype : y.dtype;
    const bool done = gemm_->Run(x.data, w.data, x.dtype, y.data, y.dtype, m, n, k, b,
                                 bias_dtype, act);
    if (!done) cuda::BiasActivate(y.data, y.dtype, m, n, b, bias_dtype, act, stream_);
    Check();
  }

  void Activate(Tensor& x, Activation act) override {
    Device();
    if (act == Activation::kNone || x.numel() == 0) return;
    const int64_t n = x.dim(-1);
    cuda::BiasActivate(x.data, x.dtype, x.numel() / n, n, nullptr, x.dtype, act, stream_);
    Check();
  }

  void GatedActivate(const Tensor& x, Activation act, Tensor& y) override {
    Device();
    const int64_t n = y.dim(-1), rows = y.numel() / std::max<int64_t>(n, 1);
    if (x.numel() != 2 * y.numel()) throw std::invalid_argument("GatedActivate: x is not [rows, 2n]");
    cuda::GatedActivate(x.data, rows, n, act, y.data, y.dtype, stream_);
    Check();
  }

  void LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                 Tensor& y) override {
    Device();
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cuda::LayerNorm(x.data, gamma.data, beta.empty() ? nullptr : beta.data, eps, rows, n, y.data,
                    x.dtype, stream_);
    Check();
  }

  void AddLayerNorm(Tensor& x, const Tensor& h, const Tensor& gamma, const Tensor& beta,
                    float eps, Tensor& y) override {
    Device();
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cuda::AddLayerNorm(x.data, h.data, gamma.data, beta.empty() ? nullptr : beta.data, eps, rows,
                       n, y.data, x.dtype, stream_);
    Check();
  }

  void RmsNorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y) override {
    Device();
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cuda::RmsNorm(x.data, gamma.data, eps, rows, n, y.data, x.dtype, stream_);
    Check();
  }

  void AddRmsNorm(Tensor& x, const Tensor& h, const Tensor& gamma, float eps,
                  Tensor& y) override {
    Device();
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cuda::AddRmsNorm(x.data, h.data, gamma.data, eps, rows, n, y.data, x.dtype, stream_);
    Check();
  }

  void AddInPlace(Tensor& x, const Tensor& y) override {
    Device();
    if (x.numel() != y.numel()) throw std::invalid_argument("AddInPlace: sizes differ");
    cuda::Add(x.data, y.data, x.numel(), x.dtype, stream_);
    Check();
  }

  void Embedding(const Tensor& table, const int32_t* ids, int64_t n, bool accumulate,
                 Tensor& out) override {
    Device();
    if (n == 0) return;
    Tensor dev_ids = UploadIndices(ids, n);
    cuda::Embedding(table.data, dev_ids.as<int32_t>(), n, table.dim(1), accumulate, out.data,
                    out.dtype, stream_);
    Check();
  }

  void GatherRows(const Tensor& x, const std::vector<int32_t>& rows, Tensor& out) override {
    Device();
    if (rows.empty()) return;
    const int64_t d = x.numel() / x.dim(0);
    Tensor dev_rows = UploadIndices(rows.data(), static_cast<int64_t>(rows.size()));
    cuda::GatherRows(x.data, dev_rows.as<int32_t>(), static_cast<int64_t>(rows.size()), d,
                     out.data, out.dtype, stream_);
    Check();
  }

  void Attention(const AttentionParams& p) override {
    Device();
    const size_t ws_bytes = cuda::AttentionWorkspaceBytes(p);
    Tensor ws = Scratch(ws_bytes);
    cuda::Attention(p, ws.data, ws_bytes, stream_);
    Check();
  }

  void WriteKv(const KvWriteParams& p) override {
    Device();
    cuda::WriteKv(p, stream_);
    Check();
  }

  void Rotary(const RotaryParams& p) override {
    Device();
    cuda::Rotary(p, stream_);
    Check();
  }

  void SampleTokens(const SampleParams& p) override {
    Device();
    const size_t ws_bytes = cuda::SampleWorkspaceBytes(p);
    Tensor ws = Scratch(ws_bytes);
    cuda::SampleTokens(p, ws.data, ws_bytes, stream_);
    Check();
  }

 private:
  // The calling thread's current device is per thread; every entry point sets ours.
  void Device() const { INFER_CUDA_CHECK(cudaSetDevice(device_)); }
  // Launch errors (bad configuration, no kernel image for this GPU) surface here, without a sync.
  void Check() const { INFER_CUDA_CHECK(cudaGetLastError()); }

  // Device scratch of at least `bytes` bytes (empty for 0); freed when the tensor goes, which the
  // single stream makes safe right after the launch that uses it.
  Tensor Scratch(size_t bytes) {
    if (bytes == 0) return Tensor{};
    return Alloc({static_cast<int64_t>((bytes + 3) / 4)}, DType::kI32);
  }

  Tensor UploadIndices(const int32_t* host, int64_t n) {
    Tensor t = Alloc({n}, DType::kI32);
    CopyFromHost(host, t);
    return t;
  }

  const int device_;
  const DType dtype_;
  cudaStream_t stream_;
  std::shared_ptr<DeviceAllocator> alloc_;
  std::unique_ptr<cuda::Gemm> gemm_;
};

}  // namespace

// The plugin's entry points (kernels/cuda_plugin.cc loads this library with dlopen).
extern "C" __attribute__((visibility("default"))) int InferCudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::unique_ptr<Backend> MakeCudaBackendImpl(const CudaBackendOptions& options,
                                             std::string* error);

extern "C" __attribute__((visibility("default"))) Backend* InferMakeCudaBackend(
    const CudaBackendOptions* options, std::string* error) {
  return MakeCudaBackendImpl(*options, error).release();
}

std::unique_ptr<Backend> MakeCudaBackendImpl(const CudaBackendOptions& options,
                                             std::string* error) {
  auto fail = [&](std::string why) -> std::unique_ptr<Backend> {
    if (error) *error = std::move(why);
    return nullptr;
  };
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16 &&
      options.dtype != DType::kBF16) {
    return fail(std::string("CUDA backend dtype must be F32, F16 or BF16, not ") +
                DTypeName(options.dtype));
  }
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return fail(std::string("no usable CUDA device (") + cudaGetErrorString(err) + ")");
  }
  if (options.device < 0 || options.device >= count) {
    return fail("CUDA device " + std::to_string(options.device) + " does not exist (" +
                std::to_string(count) + " visible)");
  }
  cudaDeviceProp prop{};
  if ((err = cudaSetDevice(options.device)) != cudaSuccess ||
      (err = cudaGetDeviceProperties(&prop, options.device)) != cudaSuccess) {
    cudaGetLastError();
    return fail(std::string("cannot use CUDA device ") + std::to_string(options.device) + ": " +
                cudaGetErrorString(err));
  }
  if (prop.major < 8) {
    return fail(std::string("CUDA device ") + prop.name + " is compute capability " +
                std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                "; this build needs 8.0 or newer");
  }
  if (options.dtype == DType::kBF16 && prop.major < 8) {
    return fail("bfloat16 needs compute capability 8.0 or newer");
  }
  cudaStream_t stream = nullptr;
  if ((err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) != cudaSuccess) {
    cudaGetLastError();
    return fail(std::string("cudaStreamCreate failed: ") + cudaGetErrorString(err));
  }
  try {
    return std::make_unique<CudaBackend>(options.device, options.dtype, stream);
  } catch (const std::exception& e) {
    cudaStreamDestroy(stream);
    return fail(std::string("CUDA backend initialisation failed: ") + e.what());
  }
}

}  // namespace infer::kernels
