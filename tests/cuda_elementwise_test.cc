// The CUDA backend's elementwise, normalisation, gather, rotary and conversion ops against the
// CPU backend (the reference), through the Backend interface only, for F32, F16 and BF16
// storage. Inputs are rounded to the storage type once so both backends see the same values;
// outputs are poisoned (NaN) first; results must be finite and within Tolerance(dtype) relative
// error overall (plus F16's subnormal spacing, for tensors of a few tiny values), and row-wise
// ops also within 4x that row by row (one wrong row among thousands must fail).
//
// Shapes cover each kernel path of kernels/cuda/norms.cu and the others: one element, odd widths
// (scalar fallback), warp-per-row widths (<= 1024), block-per-row widths (up to 16384), widths
// past the register-resident limit (generic kernel), more than 65535 rows (grid-stride on the
// row dimension), and unaligned views. Failures name the op, shape, dtype and worst element.
// Without a CUDA device every test skips and says why.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>

#include "cuda_test_util.h"

namespace infer::testing {
namespace {

using kernels::Activation;
using kernels::Backend;
using kernels::DType;
using kernels::RotaryParams;
using kernels::Tensor;

struct Shape {
  int64_t rows, n;
};

std::string Str(Shape s) { return std::to_string(s.rows) + "x" + std::to_string(s.n); }

const char* ActName(Activation a) {
  switch (a) {
    case Activation::kNone: return "none";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kGeluErf: return "gelu_erf";
    case Activation::kRelu: return "relu";
    case Activation::kSilu: return "silu";
    case Activation::kTanh: return "tanh";
  }
  return "?";
}

constexpr Activation kAllActivations[] = {Activation::kNone, Activation::kGeluTanh,
                                          Activation::kGeluErf, Activation::kRelu,
                                          Activation::kSilu, Activation::kTanh};

// Row widths and counts for the row-wise ops: every path of the norm kernels.
const std::vector<Shape>& NormShapes() {
  static const std::vector<Shape> shapes = {
      {1, 1},     {1, 7},     {3, 769},  {1, 384},     {16, 768},  {5000, 768},
      {4, 1024},  {4, 1032},  {3, 2050}, {4, 4096},    {2, 8192},  {2, 16384},
      {2, 20000}, {2, 40000}, {70000, 8}};
  return shapes;
}

// CUDA result `got` (storage `dtype`) against the CPU reference `want`, rows of `row_len`.
void ExpectMatches(const std::vector<float>& got, const std::vector<float>& want, int64_t row_len,
                   DType dtype, double tol, const std::string& what, bool per_row) {
  ASSERT_EQ(got.size(), want.size()) << what;
  if (row_len <= 0) row_len = 1;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) && std::isfinite(want[i])) {
      if (bad++ == 0) first_bad = i;
    }
  }
  if (bad > 0) {
    ADD_FAILURE() << what << ": " << bad << " of " << got.size()
                  << " elements are NaN/inf (unwritten or overflowed); first at row "
                  << first_bad / row_len << " col " << first_bad % row_len << ": got "
                  << got[first_bad] << ", reference " << want[first_bad];
    return;
  }
  size_t worst = 0;
  double worst_diff = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (d > worst_diff) worst_diff = d, worst = i;
  }
  // F16 keeps only absolute precision (6e-8) below its smallest normal 6.1e-5, so a tensor of
  // a few tiny values may show a large relative error: allow that rounding on top.
  auto within = [&](size_t begin, size_t end, double bound_scale, double* rel) {
    double num = 0.0, den = 0.0;
    for (size_t i = begin; i < end; ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      num += d * d;
      den += static_cast<double>(want[i]) * want[i];
    }
    num = std::sqrt(num);
    den = std::sqrt(den);
    *rel = den > 0.0 ? num / den : num;
    const double floor =
        dtype == DType::kF16 ? 6e-8 * std::sqrt(static_cast<double>(end - begin)) : 0.0;
    return num <= bound_scale * tol * den + floor;
  };
  double err = 0.0;
  EXPECT_TRUE(within(0, got.size(), 1.0, &err))
      << what << ": relative error " << err << " > " << tol << "; worst element row "
      << worst / row_len << " col " << worst % row_len << ": got " << got[worst]
      << ", reference " << want[worst];
  if (!per_row) return;
  const int64_t rows = static_cast<int64_t>(got.size()) / row_len;
  int reported = 0;
  int64_t failing = 0;
  std::ostringstream list;
  for (int64_t r = 0; r < rows; ++r) {
    double row_err = 0.0;
    if (!within(r * row_len, (r + 1) * row_len, 4.0, &row_err)) {
      ++failing;
      if (reported++ < 3) list << " row " << r << " (error " << row_err << ")";
    }
  }
  EXPECT_EQ(failing, 0) << what << ": " << failing << " of " << rows
                        << " rows exceed 4x tolerance " << 4 * tol << ":" << list.str();
}

// One op's inputs on both backends: F32 on the CPU, the storage dtype on the GPU.
struct Both {
  Tensor cpu, gpu;
};

class CudaElementwise : public ::testing::TestWithParam<DType> {
 protected:
  Both Make(Backend& cpu, Backend& gpu, const std::vector<float>& v,
            std::vector<int64_t> shape) {
    return {Upload(cpu, v, shape, DType::kF32), Upload(gpu, v, shape, GetParam())};
  }
  Both Poisoned(Backend& cpu, Backend& gpu, std::vector<int64_t> shape) {
    Both b{cpu.Alloc(shape, DType::kF32), gpu.Alloc(shape, GetParam())};
    Poison(cpu, b.cpu);
    Poison(gpu, b.gpu);
    return b;
  }
  std::vector<float> Random(size_t n, uint64_t seed, float scale = 1.0f) {
    return RandomValues(n, seed, GetParam(), scale);
  }
  void Check(Backend& cpu, Backend& gpu, const Both& t, int64_t row_len, const std::string& what,
             bool per_row = true) {
    gpu.Synchronize();
    ExpectMatches(Download(gpu, t.gpu), Download(cpu, t.cpu), row_len, GetParam(),
                  Tolerance(GetParam()),
                  what + " " + kernels::DTypeName(GetParam()), per_row);
  }
};

// ---- Normalisations ---------------------------------------------------------------------------

TEST_P(CudaElementwise, LayerNorm) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 100;
  for (const Shape s : NormShapes()) {
    Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
    Both gamma = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
    Both beta = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
    Both y = Poisoned(*cpu, *gpu, {s.rows, s.n});
    cpu->LayerNorm(x.cpu, gamma.cpu, beta.cpu, 1e-5f, y.cpu);
    gpu->LayerNorm(x.gpu, gamma.gpu, beta.gpu, 1e-5f, y.gpu);
    Check(*cpu, *gpu, y, s.n, "LayerNorm " + Str(s));

    Both y2 = Poisoned(*cpu, *gpu, {s.rows, s.n});
    cpu->LayerNorm(x.cpu, gamma.cpu, Tensor{}, 1e-5f, y2.cpu);
    gpu->LayerNorm(x.gpu, gamma.gpu, Tensor{}, 1e-5f, y2.gpu);
    Check(*cpu, *gpu, y2, s.n, "LayerNorm without beta " + Str(s));

    // In place: y aliases x.
    cpu->LayerNorm(x.cpu, gamma.cpu, beta.cpu, 1e-5f, x.cpu);
    gpu->LayerNorm(x.gpu, gamma.gpu, beta.gpu, 1e-5f, x.gpu);
    Check(*cpu, *gpu, x, s.n, "LayerNorm in place " + Str(s));
  }
}

// Rows with a large common offset: a one-pass E[x^2] - E[x]^2 in float32 loses the variance
// (1e4 * 6e-8 against a variance of 1); the two-pass kernels keep it.
TEST_P(CudaElementwise, LayerNormLargeMean) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 200;
  for (const Shape s : {Shape{8, 768}, Shape{8, 4096}, Shape{2, 769}, Shape{2, 40000}}) {
    std::vector<float> v = Random(s.rows * s.n, ++seed);
    for (float& f : v) f = RoundTo(f + 100.0f, GetParam());
    Both x = Make(*cpu, *gpu, v, {s.rows, s.n});
    Both gamma = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
    Both beta = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
    Both y = Poisoned(*cpu, *gpu, {s.rows, s.n});
    cpu->LayerNorm(x.cpu, gamma.cpu, beta.cpu, 1e-5f, y.cpu);
    gpu->LayerNorm(x.gpu, gamma.gpu, beta.gpu, 1e-5f, y.gpu);
    Check(*cpu, *gpu, y, s.n, "LayerNorm mean 100 " + Str(s));
  }
}

TEST_P(CudaElementwise, AddLayerNorm) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 300;
  for (const Shape s : NormShapes()) {
    for (bool y_is_h : {true, false}) {
      const std::string what =
          std::string("AddLayerNorm ") + (y_is_h ? "y=h " : "") + Str(s);
      Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
      Both h = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
      Both gamma = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
      Both beta = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
      Both y = y_is_h ? h : Poisoned(*cpu, *gpu, {s.rows, s.n});
      cpu->AddLayerNorm(x.cpu, h.cpu, gamma.cpu, beta.cpu, 1e-5f, y.cpu);
      gpu->AddLayerNorm(x.gpu, h.gpu, gamma.gpu, beta.gpu, 1e-5f, y.gpu);
      Check(*cpu, *gpu, y, s.n, what + " (y)");
      Check(*cpu, *gpu, x, s.n, what + " (x keeps x + h)");
    }
  }
}

TEST_P(CudaElementwise, RmsNorm) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 400;
  for (const Shape s : NormShapes()) {
    Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed, 2.0f), {s.rows, s.n});
    Both gamma = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
    Both y = Poisoned(*cpu, *gpu, {s.rows, s.n});
    cpu->RmsNorm(x.cpu, gamma.cpu, 1e-6f, y.cpu);
    gpu->RmsNorm(x.gpu, gamma.gpu, 1e-6f, y.gpu);
    Check(*cpu, *gpu, y, s.n, "RmsNorm " + Str(s));
    cpu->RmsNorm(x.cpu, gamma.cpu, 1e-6f, x.cpu);
    gpu->RmsNorm(x.gpu, gamma.gpu, 1e-6f, x.gpu);
    Check(*cpu, *gpu, x, s.n, "RmsNorm in place " + Str(s));
  }
}

TEST_P(CudaElementwise, AddRmsNorm) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 500;
  for (const Shape s : NormShapes()) {
    for (bool y_is_h : {true, false}) {
      const std::string what = std::string("AddRmsNorm ") + (y_is_h ? "y=h " : "") + Str(s);
      Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
      Both h = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
      Both gamma = Make(*cpu, *gpu, Random(s.n, ++seed), {s.n});
      Both y = y_is_h ? h : Poisoned(*cpu, *gpu, {s.rows, s.n});
      cpu->AddRmsNorm(x.cpu, h.cpu, gamma.cpu, 1e-6f, y.cpu);
      gpu->AddRmsNorm(x.gpu, h.gpu, gamma.gpu, 1e-6f, y.gpu);
      Check(*cpu, *gpu, y, s.n, what + " (y)");
      Check(*cpu, *gpu, x, s.n, what + " (x keeps x + h)");
    }
  }
}

// ---- Activations and adds ---------------------------------------------------------------------

TEST_P(CudaElementwise, Activate) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 600;
  const std::vector<Shape> shapes = {{1, 1},   {1, 7},     {3, 769}, {16, 768},
                                     {5, 4096}, {70000, 8}, {2, 30001}};
  for (Activation act : kAllActivations) {
    for (const Shape s : shapes) {
      Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed, 3.0f), {s.rows, s.n});
      cpu->Activate(x.cpu, act);
      gpu->Activate(x.gpu, act);
      // Elementwise: an element near a zero of the function has no useful relative error, so
      // only the whole tensor is compared.
      Check(*cpu, *gpu, x, s.n, std::string("Activate ") + ActName(act) + " " + Str(s), false);
    }
  }
}

TEST_P(CudaElementwise, GatedActivate) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 700;
  const std::vector<Shape> shapes = {{1, 1},    {3, 7},     {5, 769}, {16, 768},
                                     {4, 11008}, {70000, 8}, {2, 1001}};
  for (Activation act : kAllActivations) {
    for (const Shape s : shapes) {
      Both x = Make(*cpu, *gpu, Random(s.rows * 2 * s.n, ++seed, 2.0f), {s.rows, 2 * s.n});
      Both y = Poisoned(*cpu, *gpu, {s.rows, s.n});
      cpu->GatedActivate(x.cpu, act, y.cpu);
      gpu->GatedActivate(x.gpu, act, y.gpu);
      Check(*cpu, *gpu, y, s.n, std::string("GatedActivate ") + ActName(act) + " " + Str(s),
            false);
    }
  }
}

TEST_P(CudaElementwise, AddInPlace) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 800;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{769}, int64_t{3 * 4096},
                    int64_t{(1 << 20) + 3}}) {
    Both x = Make(*cpu, *gpu, Random(n, ++seed), {n});
    Both h = Make(*cpu, *gpu, Random(n, ++seed), {n});
    cpu->AddInPlace(x.cpu, h.cpu);
    gpu->AddInPlace(x.gpu, h.gpu);
    Check(*cpu, *gpu, x, n, "AddInPlace n=" + std::to_string(n), false);
  }
}

// ---- Gathers ----------------------------------------------------------------------------------

TEST_P(CudaElementwise, EmbeddingAndAccumulate) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 900;
  struct Case {
    int64_t vocab, d, n;
  };
  for (const Case c : {Case{50, 1, 3}, Case{50, 7, 9}, Case{1000, 768, 37}, Case{64, 4096, 5},
                       Case{300, 8, 70000}, Case{10, 769, 1}}) {
    const std::string what = "Embedding vocab=" + std::to_string(c.vocab) +
                             " d=" + std::to_string(c.d) + " n=" + std::to_string(c.n);
    Both tok = Make(*cpu, *gpu, Random(c.vocab * c.d, ++seed), {c.vocab, c.d});
    Both pos = Make(*cpu, *gpu, Random(c.vocab * c.d, ++seed), {c.vocab, c.d});
    std::mt19937 rng(static_cast<uint32_t>(++seed));
    std::vector<int32_t> ids(c.n), pos_ids(c.n);
    for (auto& i : ids) i = static_cast<int32_t>(rng() % c.vocab);
    for (int64_t i = 0; i < c.n; ++i) pos_ids[i] = static_cast<int32_t>(i % c.vocab);
    ids.back() = static_cast<int32_t>(c.vocab - 1);  // the last table row
    Both out = Poisoned(*cpu, *gpu, {c.n, c.d});
    cpu->Embedding(tok.cpu, ids.data(), c.n, false, out.cpu);
    gpu->Embedding(tok.gpu, ids.data(), c.n, false, out.gpu);
    Check(*cpu, *gpu, out, c.d, what);
    cpu->Embedding(pos.cpu, pos_ids.data(), c.n, true, out.cpu);
    gpu->Embedding(pos.gpu, pos_ids.data(), c.n, true, out.gpu);
    Check(*cpu, *gpu, out, c.d, what + " accumulate");
  }
}

TEST_P(CudaElementwise, GatherRows) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  uint64_t seed = 1000;
  for (const Shape s : {Shape{5, 1}, Shape{9, 7}, Shape{40, 768}, Shape{3, 4096}}) {
    Both x = Make(*cpu, *gpu, Random(s.rows * s.n, ++seed), {s.rows, s.n});
    // Reversed, repeated and the last row, as the last positions of packed sequences.
    std::vector<int32_t> rows;
    for (int64_t r = s.rows - 1; r >= 0; r -= 2) rows.push_back(static_cast<int32_t>(r));
    rows.push_back(0);
    rows.push_back(0);
    const int64_t m = static_cast<int64_t>(rows.size());
    Both out = Poisoned(*cpu, *gpu, {m, s.n});
    cpu->GatherRows(x.cpu, rows, out.cpu);
    gpu->GatherRows(x.gpu, rows, out.gpu);
    Check(*cpu, *gpu, out, s.n, "GatherRows " + Str(s));
  }
  // A 3-D source: rows of numel / dim(0) elements.
  Both x = Make(*cpu, *gpu, Random(6 * 2 * 384, ++seed), {6, 2, 384});
  Both out = Poisoned(*cpu, *gpu, {2, 2, 384});
  cpu->GatherRows(x.cpu, {5, 2}, out.cpu);
  gpu->GatherRows(x.gpu, {5, 2}, out.gpu);
  Check(*cpu, *gpu, out, 768, "GatherRows [6,2,384]");
}

// ---- Rotary -----------------------------------------------------------------------------------

TEST_P(CudaElementwise, Rotary) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  struct Case {
    int tokens, heads, kv_heads, head_dim, rotary_dim;
    bool interleaved;
    float base;
    int max_pos;
  };
  const Case cases[] = {
      {7, 32, 8, 128, 128, false, 10000.0f, 32000},   // Llama GQA, long positions
      {7, 32, 8, 128, 128, true, 10000.0f, 32000},    // same, GPT-J layout
      {3, 8, 8, 64, 32, false, 10000.0f, 32000},      // partial rotary (GPT-NeoX pct 0.5)
      {3, 16, 16, 256, 64, true, 10000.0f, 2048},     // GPT-J: rotary_dim 64 of 256
      {5, 32, 32, 80, 32, false, 10000.0f, 2048},     // phi-2-like: head 80, rotary 32
      {4, 8, 2, 128, 128, false, 500000.0f, 32000},   // Llama-3 base
      {5000, 4, 2, 64, 64, false, 10000.0f, 5000},    // prefill-sized
      {70000, 1, 1, 8, 8, false, 10000.0f, 70000},    // more tokens than 65535
      {1, 1, 1, 2, 2, true, 10000.0f, 32000},         // one pair
  };
  uint64_t seed = 1100;
  for (const Case& c : cases) {
    std::ostringstream name;
    name << "Rotary tokens=" << c.tokens << " heads=" << c.heads << "/" << c.kv_heads
         << " head_dim=" << c.head_dim << " rotary_dim=" << c.rotary_dim
         << (c.interleaved ? " interleaved" : " neox") << " base=" << c.base;
    std::vector<int32_t> positions(c.tokens);
    std::mt19937 rng(static_cast<uint32_t>(++seed));
    for (int t = 0; t < c.tokens; ++t) {
      positions[t] = c.tokens >= c.max_pos ? t : static_cast<int32_t>(rng() % c.max_pos);
    }
    positions[c.tokens - 1] = c.max_pos - 1;
    if (c.tokens > 1) positions[0] = 0;
    const int64_t q_n = int64_t{c.tokens} * c.heads * c.head_dim;
    const int64_t k_n = int64_t{c.tokens} * c.kv_heads * c.head_dim;
    const std::vector<float> q_in = Random(q_n, ++seed);
    Both q = Make(*cpu, *gpu, q_in, {c.tokens, c.heads, c.head_dim});
    Both k = Make(*cpu, *gpu, Random(k_n, ++seed), {c.tokens, c.kv_heads, c.head_dim});
    Tensor pos_cpu = cpu->Alloc({c.tokens}, DType::kI32);
    Tensor pos_gpu = gpu->Alloc({c.tokens}, DType::kI32);
    cpu->CopyFromHost(positions.data(), pos_cpu);
    gpu->CopyFromHost(positions.data(), pos_gpu);
    for (int which = 0; which < 2; ++which) {
      Backend& be = which == 0 ? *cpu : *gpu;
      RotaryParams p;
      p.dtype = which == 0 ? DType::kF32 : GetParam();
      p.q = which == 0 ? q.cpu.data : q.gpu.data;
      p.k = which == 0 ? k.cpu.data : k.gpu.data;
      p.positions = which == 0 ? pos_cpu.as<int32_t>() : pos_gpu.as<int32_t>();
      p.num_tokens = c.tokens;
      p.num_heads = c.heads;
      p.num_kv_heads = c.kv_heads;
      p.head_dim = c.head_dim;
      p.rotary_dim = c.rotary_dim;
      p.base = c.base;
      p.interleaved = c.interleaved;
      be.Rotary(p);
    }
    Check(*cpu, *gpu, q, int64_t{c.heads} * c.head_dim, name.str() + " (q)", false);
    Check(*cpu, *gpu, k, int64_t{c.kv_heads} * c.head_dim, name.str() + " (k)", false);
    // Features past rotary_dim are untouched: compare them exactly with the input.
    if (c.rotary_dim < c.head_dim) {
      const std::vector<float> after = Download(*gpu, q.gpu);
      int64_t changed = 0;
      for (int64_t i = 0; i < q_n; ++i) {
        if (i % c.head_dim >= c.rotary_dim && std::memcmp(&q_in[i], &after[i], 4) != 0) {
          ++changed;
        }
      }
      EXPECT_EQ(changed, 0) << name.str() << ": features past rotary_dim changed";
    }
  }
}

// ---- Host conversions -------------------------------------------------------------------------

// Values the dtype holds exactly come back bit for bit; others come back rounded to nearest
// even, exactly as the host rounding of cuda_test_util.h (RoundTo) does.
TEST_P(CudaElementwise, CopyF32RoundTrips) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  const DType dt = GetParam();
  uint64_t seed = 1200;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4099}, int64_t{(1 << 20) + 5}}) {
    std::vector<float> v = Random(n, ++seed, 10.0f);
    // Specials: zeros, the largest finite value, small and subnormal values of the type.
    const std::vector<float> specials = {0.0f, -0.0f, 1.0f, -2.5f,
                                         dt == DType::kF16 ? 65504.0f : 3.0e38f,
                                         dt == DType::kF16 ? 6.103515625e-05f : 1.17549435e-38f,
                                         dt == DType::kF16 ? 5.9604645e-08f : 1.0e-40f};
    for (size_t i = 0; i < specials.size() && i < v.size(); ++i) v[i] = RoundTo(specials[i], dt);
    Tensor t = gpu->Alloc({n}, dt);
    Poison(*gpu, t);
    gpu->CopyFromHostF32(v.data(), t);
    const std::vector<float> back = Download(*gpu, t);
    ASSERT_EQ(back.size(), v.size());
    int64_t diff = 0, first = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (std::memcmp(&back[i], &v[i], 4) != 0 && ++diff == 1) first = i;
    }
    EXPECT_EQ(diff, 0) << "round trip n=" << n << " " << kernels::DTypeName(dt) << ": " << diff
                       << " values changed; first at " << first << ": "
                       << (first >= 0 ? back[first] : 0.0f) << " != "
                       << (first >= 0 ? v[first] : 0.0f);
  }
  // Values between representable ones, including exact ties (round half to even).
  std::vector<float> raw;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (int i = 0; i < 5000; ++i) raw.push_back(dist(rng));
  for (uint32_t bits : {0x3F808000u, 0x3F818000u, 0xBF808000u, 0x3F800001u, 0x3F801000u}) {
    float f;
    std::memcpy(&f, &bits, 4);
    raw.push_back(f);  // bf16 ties (1 + 2^-8, 1 + 3 * 2^-8) and near-ties; f16 rounding cases
  }
  raw.push_back(1.0f + 1.0f / 2048.0f);  // f16 tie between 1 and 1 + 2^-10: rounds to 1
  raw.push_back(1.0f + 3.0f / 2048.0f);  // f16 tie: rounds up to 1 + 2^-9 (even)
  Tensor t = gpu->Alloc({static_cast<int64_t>(raw.size())}, dt);
  gpu->CopyFromHostF32(raw.data(), t);
  const std::vector<float> back = Download(*gpu, t);
  int64_t diff = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const float want = RoundTo(raw[i], dt);
    if (std::memcmp(&back[i], &want, 4) != 0 && diff++ < 3) {
      ADD_FAILURE() << "rounding " << kernels::DTypeName(dt) << ": " << raw[i] << " came back "
                    << back[i] << ", want " << want;
    }
  }
  EXPECT_EQ(diff, 0);
}

// ---- Edge cases -------------------------------------------------------------------------------

TEST_P(CudaElementwise, EmptyTensorsAreNoOps) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  const DType dt = GetParam();
  Tensor x = gpu->Alloc({0, 768}, dt), h = gpu->Alloc({0, 768}, dt);
  Tensor y = gpu->Alloc({0, 768}, dt), g = gpu->Alloc({768}, dt), b = gpu->Alloc({768}, dt);
  Tensor x2 = gpu->Alloc({0, 2 * 768}, dt);
  gpu->LayerNorm(x, g, b, 1e-5f, y);
  gpu->AddLayerNorm(x, h, g, b, 1e-5f, y);
  gpu->RmsNorm(x, g, 1e-5f, y);
  gpu->AddRmsNorm(x, h, g, 1e-5f, y);
  gpu->Activate(x, Activation::kGeluTanh);
  gpu->GatedActivate(x2, Activation::kSilu, y);
  gpu->AddInPlace(x, h);
  Tensor table = gpu->Alloc({4, 768}, dt);
  gpu->Embedding(table, nullptr, 0, false, y);
  gpu->GatherRows(table, {}, y);
  RotaryParams p;
  p.dtype = dt;
  p.q = x.data;
  p.k = x.data;
  p.num_tokens = 0;
  p.num_heads = 4;
  p.num_kv_heads = 4;
  p.head_dim = 192;
  p.rotary_dim = 64;
  gpu->Rotary(p);
  std::vector<float> none;
  gpu->CopyFromHostF32(none.data(), y);
  gpu->CopyToHostF32(y, none.data());
  EXPECT_NO_THROW(gpu->Synchronize());
}

// Views that start 1 element past an allocation: 16-byte vector paths must not be taken (a
// misaligned vector access would be a sticky CUDA error, so this test runs last).
TEST_P(CudaElementwise, UnalignedViews) {
  INFER_CUDA_BACKEND_OR_SKIP(gpu, GetParam());
  auto cpu = kernels::MakeCpuBackend();
  const DType dt = GetParam();
  // One element in: 4 bytes into the CPU's float32 tensors, one 16-bit element on the GPU.
  auto shifted = [](const Tensor& t, std::vector<int64_t> shape) {
    Tensor v = t;
    v.data = static_cast<char*>(t.data) + kernels::DTypeSize(t.dtype);
    v.shape = std::move(shape);
    return v;
  };
  const Shape s{6, 768};
  std::vector<float> xv = Random(s.rows * s.n + 1, 1301), hv = Random(s.rows * s.n + 1, 1302);
  std::vector<float> gv = Random(s.n + 1, 1303), bv = Random(s.n + 1, 1304);
  Both xa = Make(*cpu, *gpu, xv, {s.rows * s.n + 1});
  Both ha = Make(*cpu, *gpu, hv, {s.rows * s.n + 1});
  Both ga = Make(*cpu, *gpu, gv, {s.n + 1});
  Both ba = Make(*cpu, *gpu, bv, {s.n + 1});
  Both ya = Poisoned(*cpu, *gpu, {s.rows * s.n + 1});
  Both x{shifted(xa.cpu, {s.rows, s.n}), shifted(xa.gpu, {s.rows, s.n})};
  Both h{shifted(ha.cpu, {s.rows, s.n}), shifted(ha.gpu, {s.rows, s.n})};
  Both g{shifted(ga.cpu, {s.n}), shifted(ga.gpu, {s.n})};
  Both b{shifted(ba.cpu, {s.n}), shifted(ba.gpu, {s.n})};
  Both y{shifted(ya.cpu, {s.rows, s.n}), shifted(ya.gpu, {s.rows, s.n})};
  cpu->LayerNorm(x.cpu, g.cpu, b.cpu, 1e-5f, y.cpu);
  gpu->LayerNorm(x.gpu, g.gpu, b.gpu, 1e-5f, y.gpu);
  Check(*cpu, *gpu, y, s.n, "LayerNorm unaligned");
  cpu->AddRmsNorm(x.cpu, h.cpu, g.cpu, 1e-6f, y.cpu);
  gpu->AddRmsNorm(x.gpu, h.gpu, g.gpu, 1e-6f, y.gpu);
  Check(*cpu, *gpu, y, s.n, "AddRmsNorm unaligned");
  Check(*cpu, *gpu, x, s.n, "AddRmsNorm unaligned (x)");
  cpu->Activate(x.cpu, Activation::kGeluErf);
  gpu->Activate(x.gpu, Activation::kGeluErf);
  Check(*cpu, *gpu, x, s.n, "Activate unaligned", false);
  cpu->AddInPlace(x.cpu, h.cpu);
  gpu->AddInPlace(x.gpu, h.gpu);
  Check(*cpu, *gpu, x, s.n, "AddInPlace unaligned", false);
  Both gx{shifted(xa.cpu, {s.rows / 2, 2 * s.n}), shifted(xa.gpu, {s.rows / 2, 2 * s.n})};
  Both gy{shifted(ya.cpu, {s.rows / 2, s.n}), shifted(ya.gpu, {s.rows / 2, s.n})};
  cpu->GatedActivate(gx.cpu, Activation::kSilu, gy.cpu);
  gpu->GatedActivate(gx.gpu, Activation::kSilu, gy.gpu);
  Check(*cpu, *gpu, gy, s.n, "GatedActivate unaligned", false);
  const std::vector<int32_t> ids = {3, 0, 5};
  Both out{shifted(ya.cpu, {3, s.n}), shifted(ya.gpu, {3, s.n})};
  cpu->Embedding(x.cpu, ids.data(), 3, false, out.cpu);
  gpu->Embedding(x.gpu, ids.data(), 3, false, out.gpu);
  Check(*cpu, *gpu, out, s.n, "Embedding unaligned");
  // Host conversions into and out of an unaligned view.
  Tensor t = gpu->Alloc({1001}, dt);
  Tensor tv = shifted(t, {1000});
  const std::vector<float> v = Random(1000, 1305);
  gpu->CopyFromHostF32(v.data(), tv);
  EXPECT_EQ(Download(*gpu, tv), v) << "CopyF32 round trip through an unaligned view";
}

INSTANTIATE_TEST_SUITE_P(DTypes, CudaElementwise,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(kernels::DTypeName(info.param));
                         });

}  // namespace
}  // namespace infer::testing
