// The CUDA backend's own parts against the CPU backend: cuBLASLt Linear layers (every input type,
// float32 logits from 16-bit activations, bias and activation fused in the epilogue or applied
// after it, decode-sized and prefill-sized shapes, unaligned views), memory (copies, zeros,
// the caching allocator, out-of-memory as std::bad_alloc with the sizes) and device facts.
// Without a device every test skips and says why.
#include <gtest/gtest.h>

#include <new>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/backend.h"

namespace infer {
namespace {

using kernels::Activation;
using kernels::DType;
using testing::Download;
using testing::Poison;
using testing::RandomValues;
using testing::RelativeError;
using testing::Tolerance;
using testing::Upload;

const char* Name(DType t) { return kernels::DTypeName(t); }

struct LinearCase {
  int64_t m, n, k;
  bool bias;
  Activation act;
};

std::string Describe(const LinearCase& c, DType in, DType out) {
  return "Linear m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + " bias=" + std::to_string(c.bias) +
         " act=" + std::to_string(static_cast<int>(c.act)) + " in=" + Name(in) + " out=" + Name(out);
}

void CheckLinear(kernels::Backend& gpu, DType dtype, DType out_dtype, const LinearCase& c,
                 uint64_t seed) {
  SCOPED_TRACE(Describe(c, dtype, out_dtype));
  auto cpu = kernels::MakeCpuBackend();
  // Scale 1/sqrt(k) keeps outputs O(1), so relative errors measure rounding, not cancellation.
  const float ws = 1.0f / std::sqrt(static_cast<float>(c.k));
  std::vector<float> x = RandomValues(c.m * c.k, seed, dtype);
  std::vector<float> w = RandomValues(c.n * c.k, seed + 1, dtype, ws);
  std::vector<float> b = RandomValues(c.n, seed + 2, dtype, 0.5f);
  kernels::Tensor cx = Upload(*cpu, x, {c.m, c.k}, DType::kF32);
  kernels::Tensor cw = Upload(*cpu, w, {c.n, c.k}, DType::kF32);
  kernels::Tensor cb = Upload(*cpu, b, {c.n}, DType::kF32);
  kernels::Tensor cy = cpu->Alloc({c.m, c.n});
  cpu->Linear(cx, cw, c.bias ? &cb : nullptr, c.act, cy);
  std::vector<float> want = Download(*cpu, cy);
  // The 16-bit result is rounded once more on the way out.
  for (float& v : want) v = testing::RoundTo(v, out_dtype);

  kernels::Tensor gx = Upload(gpu, x, {c.m, c.k}, dtype);
  kernels::Tensor gw = Upload(gpu, w, {c.n, c.k}, dtype);
  kernels::Tensor gb = Upload(gpu, b, {c.n}, dtype);
  kernels::Tensor gy = gpu.Alloc({c.m, c.n}, out_dtype);
  Poison(gpu, gy);
  gpu.Linear(gx, gw, c.bias ? &gb : nullptr, c.act, gy);
  std::vector<float> got = Download(gpu, gy);
  EXPECT_LT(RelativeError(got, want), Tolerance(dtype));
}

class CudaLinear : public ::testing::TestWithParam<DType> {};

TEST_P(CudaLinear, MatchesCpuOverShapesBiasesAndActivations) {
  const DType dtype = GetParam();
  INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
  const std::vector<LinearCase> cases = {
      {1, 768, 768, true, Activation::kNone},        // batch-1 decode
      {1, 3072, 768, true, Activation::kGeluTanh},   // gelu_new in the epilogue
      {16, 768, 3072, true, Activation::kNone},      // batched decode
      {64, 3072, 768, true, Activation::kGeluErf},   // exact GELU: separate kernel
      {37, 1000, 96, false, Activation::kRelu},      // odd sizes, ReLU epilogue without bias
      {512, 1536, 384, true, Activation::kGeluErf},  // MiniLM prefill
      {7, 13, 5, true, Activation::kTanh},           // tiny and unaligned widths
      {300, 384, 384, true, Activation::kSilu},
      {2048, 768, 768, false, Activation::kNone},    // prefill-sized
  };
  uint64_t seed = 100;
  for (const LinearCase& c : cases) CheckLinear(*gpu, dtype, dtype, c, seed += 10);
}

TEST_P(CudaLinear, Float32LogitsFrom16BitActivations) {
  const DType dtype = GetParam();
  INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
  // The LM head writes float32 logits from 16-bit hidden states (and a classifier's bias then
  // cannot ride in the epilogue: bias type != output type).
  CheckLinear(*gpu, dtype, DType::kF32, {5, 50257, 768, false, Activation::kNone}, 7);
  CheckLinear(*gpu, dtype, DType::kF32, {3, 2, 384, true, Activation::kNone}, 8);
}

TEST_P(CudaLinear, UnalignedRowViews) {
  const DType dtype = GetParam();
  INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
  auto cpu = kernels::MakeCpuBackend();
  // Rows(1, ...) of a [*, 7] tensor starts 7 elements in: not 16-byte aligned.
  const int64_t m = 9, k = 7, n = 11;
  std::vector<float> x = RandomValues((m + 1) * k, 3, dtype);
  std::vector<float> w = RandomValues(n * k, 4, dtype, 0.4f);
  kernels::Tensor gx = Upload(*gpu, x, {m + 1, k}, dtype), gw = Upload(*gpu, w, {n, k}, dtype);
  kernels::Tensor gy = gpu->Alloc({m + 1, n}, dtype);
  Poison(*gpu, gy);
  kernels::Tensor gyv = gy.Rows(1, m + 1);
  gpu->Linear(gx.Rows(1, m + 1), gw, nullptr, Activation::kNone, gyv);
  std::vector<float> got = Download(*gpu, gyv);
  kernels::Tensor cx = Upload(*cpu, x, {m + 1, k}, DType::kF32);
  kernels::Tensor cw = Upload(*cpu, w, {n, k}, DType::kF32);
  kernels::Tensor cy = cpu->Alloc({m, n});
  cpu->Linear(cx.Rows(1, m + 1), cw, nullptr, Activation::kNone, cy);
  std::vector<float> want = Download(*cpu, cy);
  for (float& v : want) v = testing::RoundTo(v, dtype);
  EXPECT_LT(RelativeError(got, want), Tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaLinear,
                         ::testing::Values(DType::kBF16, DType::kF16, DType::kF32),
                         [](const auto& info) { return std::string(Name(info.param)); });

TEST(CudaBackend, CopiesAndZerosAreExact) {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    INFER_CUDA_BACKEND_OR_SKIP(gpu, dtype);
    SCOPED_TRACE(Name(dtype));
    std::vector<float> v = RandomValues(1000, 11, dtype);
    kernels::Tensor a = Upload(*gpu, v, {10, 100}, dtype);
    EXPECT_EQ(Download(*gpu, a), v);
    kernels::Tensor b = gpu->Alloc({10, 100}, dtype);
    Poison(*gpu, b);
    gpu->Copy(a, b);
    EXPECT_EQ(Download(*gpu, b), v);
    kernels::Tensor z = gpu->Zeros({3, 5}, dtype);
    EXPECT_EQ(Download(*gpu, z), std::vector<float>(15, 0.0f));
    // Raw bytes round trip too (int32 index arrays).
    std::vector<int32_t> ids = {5, -1, 1 << 30, 7};
    kernels::Tensor t = gpu->Alloc({4}, DType::kI32);
    gpu->CopyFromHost(ids.data(), t);
    std::vector<int32_t> back(4);
    gpu->CopyToHost(t, back.data());
    EXPECT_EQ(back, ids);
  }
}

TEST(CudaBackend, ReportsDeviceMemoryAndType) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, DType::kBF16);
  EXPECT_EQ(gpu->ActivationDType(), DType::kBF16);
  EXPECT_EQ(gpu->name().rfind("cuda:", 0), 0u) << gpu->name();
  const kernels::MemoryInfo m = gpu->Memory();
  EXPECT_GT(m.total_bytes, int64_t{1} << 30);
  EXPECT_GT(m.free_bytes, 0);
  EXPECT_LE(m.free_bytes, m.total_bytes);
  // A freed block stays cached by the allocator and counts as free for the KV cache.
  const int64_t before = gpu->Memory().free_bytes;
  { kernels::Tensor big = gpu->Alloc({int64_t{256} << 20}, DType::kI32); }  // 1 GiB
  const int64_t after = gpu->Memory().free_bytes;
  EXPECT_NEAR(static_cast<double>(after), static_cast<double>(before), 64.0 * (1 << 20));
}

TEST(CudaBackend, OutOfMemoryIsBadAllocWithTheSizes) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, DType::kBF16);
  const kernels::MemoryInfo m = gpu->Memory();
  try {
    kernels::Tensor t = gpu->Alloc({m.total_bytes}, DType::kF32);  // 4x the device
    FAIL() << "allocating 4x the device succeeded";
  } catch (const std::bad_alloc& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDA out of memory"), std::string::npos) << what;
    EXPECT_NE(what.find("MiB free of"), std::string::npos) << what;
  }
  // The backend still works afterwards.
  std::vector<float> v = RandomValues(64, 1, DType::kBF16);
  kernels::Tensor a = Upload(*gpu, v, {64}, DType::kBF16);
  EXPECT_EQ(Download(*gpu, a), v);
}

TEST(CudaBackend, MissingDeviceIsAClearError) {
  std::string why;
  kernels::CudaBackendOptions o;
  o.device = 1000;
  EXPECT_EQ(kernels::MakeCudaBackend(o, &why), nullptr);
  EXPECT_FALSE(why.empty());
  o.device = 0;
  o.dtype = DType::kI32;
  why.clear();
  EXPECT_EQ(kernels::MakeCudaBackend(o, &why), nullptr);
  EXPECT_FALSE(why.empty());
}

}  // namespace
}  // namespace infer
