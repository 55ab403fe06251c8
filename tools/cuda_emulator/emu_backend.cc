// A "CUDA backend" for running tests/cuda_attention_test.cc on the CPU: host memory, every op
// forwarded to the CPU backend except Attention and WriteKv, which run the emulated CUDA kernels
// (kernels/cuda/*.cu compiled with emu_cuda.h).
#include "emu_cuda.h"
#include "kernels/backend.h"
#include "kernels/cuda/attention.h"

namespace infer::kernels {
namespace {

class EmuCudaBackend : public Backend {
 public:
  explicit EmuCudaBackend(DType dtype) : cpu_(MakeCpuBackend()), dtype_(dtype) {}
  std::string name() const override { return "emu-cuda"; }
  DType ActivationDType() const override { return dtype_; }
  Tensor Alloc(std::vector<int64_t> shape, DType dtype) override {
    return cpu_->Alloc(std::move(shape), dtype);
  }
  Tensor Zeros(std::vector<int64_t> shape, DType dtype) override {
    return cpu_->Zeros(std::move(shape), dtype);
  }
  void CopyFromHost(const void* src, Tensor& dst) override { cpu_->CopyFromHost(src, dst); }
  void CopyToHost(const Tensor& src, void* dst) override { cpu_->CopyToHost(src, dst); }
  void Copy(const Tensor& src, Tensor& dst) override { cpu_->Copy(src, dst); }
  void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
              Tensor& y) override {
    cpu_->Linear(x, w, bias, act, y);
  }
  void Activate(Tensor& x, Activation act) override { cpu_->Activate(x, act); }
  void GatedActivate(const Tensor& x, Activation act, Tensor& y) override {
    cpu_->GatedActivate(x, act, y);
  }
  void LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                 Tensor& y) override {
    cpu_->LayerNorm(x, gamma, beta, eps, y);
  }
  void RmsNorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y) override {
    cpu_->RmsNorm(x, gamma, eps, y);
  }
  void AddInPlace(Tensor& x, const Tensor& y) override { cpu_->AddInPlace(x, y); }
  void Embedding(const Tensor& table, const int32_t* ids, int64_t n, bool accumulate,
                 Tensor& out) override {
    cpu_->Embedding(table, ids, n, accumulate, out);
  }
  void GatherRows(const Tensor& x, const std::vector<int32_t>& rows, Tensor& out) override {
    cpu_->GatherRows(x, rows, out);
  }
  void Attention(const AttentionParams& p) override {
    const size_t ws = cuda::AttentionWorkspaceBytes(p);
    std::vector<float> workspace(ws / 4 + 1, NAN);
    cuda::Attention(p, ws ? workspace.data() : nullptr, ws, nullptr);
  }
  void WriteKv(const KvWriteParams& p) override { cuda::WriteKv(p, nullptr); }
  void Rotary(const RotaryParams& p) override { cpu_->Rotary(p); }
  void SampleTokens(const SampleParams& p) override { cpu_->SampleTokens(p); }

 private:
  std::unique_ptr<Backend> cpu_;
  DType dtype_;
};

}  // namespace

bool CudaBackendBuilt() { return true; }
int CudaDeviceCount() { return 1; }
std::unique_ptr<Backend> MakeCudaBackend(const CudaBackendOptions& options, std::string*) {
  const char* mode = std::getenv("EMU_MODE");  // early (default), late, seq, seqlate
  const std::string m = mode ? mode : "early";
  emu::rt().late_copies = m == "late" || m == "seqlate";
  emu::rt().warp_sequential = m == "seq" || m == "seqlate";
  return std::make_unique<EmuCudaBackend>(options.dtype);
}

}  // namespace infer::kernels
