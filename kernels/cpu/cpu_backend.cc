// The CPU backend: float32 everywhere, GEMMs through OpenBLAS, the rest as OpenMP loops.
// It is the numerical reference the CUDA kernels are tested against, so clarity and exact
// Hugging Face semantics come before speed here; speed comes from the GEMM library.
#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/skinny_gemm.h"

namespace infer::kernels {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  Tensor Alloc(std::vector<int64_t> shape, DType dtype) override {
    Tensor t;
    t.shape = std::move(shape);
    t.dtype = dtype;
    size_t bytes = std::max<size_t>(64, (t.nbytes() + 63) / 64 * 64);
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    t.storage = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
    t.data = p;
    return t;
  }

  // Zeroing also faults every page in now: the KV cache pool is made with Zeros so that its
  // first use, mid-request, does not pay a page fault per 4 KiB written.
  Tensor Zeros(std::vector<int64_t> shape, DType dtype) override {
    Tensor t = Alloc(std::move(shape), dtype);
    cpu::ZeroFill(t.data, t.nbytes());
    return t;
  }

  void CopyFromHost(const void* src, Tensor& dst) override {
    std::memcpy(dst.data, src, dst.nbytes());
  }
  void CopyToHost(const Tensor& src, void* dst) override {
    std::memcpy(dst, src.data, src.nbytes());
  }
  void Copy(const Tensor& src, Tensor& dst) override {
    assert(src.nbytes() == dst.nbytes());
    std::memcpy(dst.data, src.data, src.nbytes());
  }

  void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
              Tensor& y) override {
    const int64_t m = x.numel() / x.dim(-1), k = x.dim(-1), n = w.dim(0);
    assert(w.dim(1) == k && y.numel() == m * n);
    if (m == 0) return;
    if (m == 1) {
      // One row (batch-1 decode): OpenBLAS runs a one-row SGEMM through its packing path;
      // SGEMV streams the weight once, which is all this step can do.
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w.as<float>(), k, x.as<float>(), 1,
                  0.0f, y.as<float>(), 1);
    } else if (m <= cpu::SkinnyGemmMaxRows(k)) {
      cpu::SkinnyGemm(x.as<float>(), m, k, w.as<float>(), n, y.as<float>());
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x.as<float>(), k,
                  w.as<float>(), k, 0.0f, y.as<float>(), n);
    }
    if (bias != nullptr || act != Activation::kNone) {
      cpu::BiasActivate(y.as<float>(), m, n, bias ? bias->as<float>() : nullptr, act);
    }
  }

  void Activate(Tensor& x, Activation act) override {
    cpu::BiasActivate(x.as<float>(), 1, x.numel(), nullptr, act);
  }

  void LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                 Tensor& y) override {
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cpu::LayerNorm(x.as<float>(), gamma.as<float>(), beta.empty() ? nullptr : beta.as<float>(),
                   eps, rows, n, y.as<float>());
  }

  void GatedActivate(const Tensor& x, Activation act, Tensor& y) override {
    const int64_t n = y.dim(-1), rows = y.numel() / n;
    assert(x.numel() == 2 * y.numel());
    cpu::GatedActivate(x.as<float>(), rows, n, act, y.as<float>());
  }

  void RmsNorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y) override {
    const int64_t n = x.dim(-1), rows = x.numel() / n;
    cpu::RmsNorm(x.as<float>(), gamma.as<float>(), eps, rows, n, y.as<float>());
  }

  void Rotary(const RotaryParams& p) override { cpu::Rotary(p); }

  void AddInPlace(Tensor& x, const Tensor& y) override {
    assert(x.numel() == y.numel());
    float* a = x.as<float>();
    const float* b = y.as<float>();
    const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
  }

  void Embedding(const Tensor& table, const int32_t* ids, int64_t n, bool accumulate,
                 Tensor& out) override {
    const int64_t d = table.dim(1);
    const float* t = table.as<float>();
    float* o = out.as<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = t + static_cast<int64_t>(ids[i]) * d;
      float* dst = o + i * d;
      if (accumulate) {
        for (int64_t j = 0; j < d; ++j) dst[j] += row[j];
      } else {
        std::memcpy(dst, row, d * sizeof(float));
      }
    }
  }

  void GatherRows(const Tensor& x, const std::vector<int32_t>& rows, Tensor& out) override {
    const int64_t d = x.numel() / x.dim(0);
    for (size_t i = 0; i < rows.size(); ++i) {
      std::memcpy(out.as<float>() + i * d, x.as<float>() + rows[i] * d, d * sizeof(float));
    }
  }

  void Attention(const AttentionParams& p) override { cpu::Attention(p); }
  void WriteKv(const KvWriteParams& p) override { cpu::WriteKv(p); }
  void SampleTokens(const SampleParams& p) override { cpu::SampleTokens(p); }
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace infer::kernels
