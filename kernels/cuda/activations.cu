// Elementwise kernels: bias + activation (Linear's epilogue and Backend::Activate), the gated
// activation of Llama's MLP, and the residual add. Math in float32 with libdevice tanhf / erff /
// expf (no fast-math approximations), one rounding to the storage type at the store; the
// formulas are kernels/cpu/activation.cc's ActivateScalar.
//
// Rows are walked on grid.y (grid-stride, so any row count) and 16-byte column vectors on grid.x
// when the row width and pointers allow it, single elements otherwise.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dtype_util.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float Act(float x, Activation act) {
  switch (act) {
    case Activation::kNone: return x;
    case Activation::kGeluTanh: {
      constexpr float kSqrt2OverPi = 0.7978845608028654f;
      return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    }
    case Activation::kGeluErf: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case Activation::kRelu: return x > 0.0f ? x : 0.0f;
    case Activation::kSilu: return x / (1.0f + expf(-x));
    case Activation::kTanh: return tanhf(x);
  }
  return x;
}

// y[rows, n] = act(y + bias[n]); kN elements per access (n % kN == 0, pointers aligned to it).
template <typename Ty, typename Tb, int kN>
__global__ void __launch_bounds__(kThreads)
    BiasActivateKernel(Ty* y, const Tb* bias, int64_t rows, int64_t n, Activation act) {
  const int64_t chunks = n / kN;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    Ty* row = y + r * n;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks;
         c += stride) {
      float v[kN];
      LoadF<kN>(row + c * kN, v);
      if (bias != nullptr) {
        float b[kN];
        LoadF<kN>(bias + c * kN, b);
#pragma unroll
        for (int e = 0; e < kN; ++e) v[e] += b[e];
      }
#pragma unroll
      for (int e = 0; e < kN; ++e) v[e] = Act(v[e], act);
      StoreF<kN>(row + c * kN, v);
    }
  }
}

// y[r, :n] = act(x[r, :n]) * x[r, n:2n]; kN elements per access.
template <typename T, int kN>
__global__ void __launch_bounds__(kThreads)
    GatedActivateKernel(const T* x, int64_t rows, int64_t n, Activation act, T* y) {
  const int64_t chunks = n / kN;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const T* gate = x + r * 2 * n;
    const T* up = gate + n;
    T* out = y + r * n;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks;
         c += stride) {
      float g[kN], u[kN];
      LoadF<kN>(gate + c * kN, g);
      LoadF<kN>(up + c * kN, u);
#pragma unroll
      for (int e = 0; e < kN; ++e) g[e] = Act(g[e], act) * u[e];
      StoreF<kN>(out + c * kN, g);
    }
  }
}

// x[i] += y[i]: vectors [0, vecs * kV), then single elements [vecs * kV, n).
template <typename T>
__global__ void __launch_bounds__(kThreads) AddKernel(T* x, const T* y, int64_t n, int64_t vecs) {
  constexpr int kV = kVec16<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < vecs; i += stride) {
    float a[kV], b[kV];
    LoadF<kV>(x + i * kV, a);
    LoadF<kV>(y + i * kV, b);
#pragma unroll
    for (int e = 0; e < kV; ++e) a[e] += b[e];
    StoreF<kV>(x + i * kV, a);
  }
  for (int64_t i = vecs * kV + tid; i < n; i += stride) {
    x[i] = FromF32<T>(ToF32(x[i]) + ToF32(y[i]));
  }
}

// A (rows, chunks-per-row) launch: threads on x over the chunks, rows on y.
struct Grid2d {
  dim3 grid, block;
};
Grid2d RowsGrid(int64_t rows, int64_t chunks) {
  const int threads = ThreadsFor(chunks, kThreads);
  return {dim3(GridX(CeilDiv(chunks, threads)), GridY(rows)), dim3(threads)};
}

template <typename Ty, typename Tb>
void LaunchBiasActivate(Ty* y, int64_t rows, int64_t n, const Tb* bias, Activation act,
                        cudaStream_t stream) {
  constexpr int kV = kVec16<Ty>;
  const bool vec = n % kV == 0 && Aligned(y, 16) &&
                   (bias == nullptr || Aligned(bias, kV * sizeof(Tb)));
  if (vec) {
    const Grid2d g = RowsGrid(rows, n / kV);
    BiasActivateKernel<Ty, Tb, kV><<<g.grid, g.block, 0, stream>>>(y, bias, rows, n, act);
  } else {
    const Grid2d g = RowsGrid(rows, n);
    BiasActivateKernel<Ty, Tb, 1><<<g.grid, g.block, 0, stream>>>(y, bias, rows, n, act);
  }
  INFER_CUDA_CHECK_LAUNCH();
}

}  // namespace

void BiasActivate(void* y, DType y_dtype, int64_t rows, int64_t n, const void* bias,
                  DType bias_dtype, Activation act, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  if (bias == nullptr && act == Activation::kNone) return;
  // Bias in y's own type, or a 16-bit bias on float32 y (a float32 logits head).
  if (bias == nullptr) bias_dtype = y_dtype;
  if (bias_dtype != y_dtype && y_dtype != DType::kF32) {
    throw std::invalid_argument(std::string("BiasActivate: bias ") + DTypeName(bias_dtype) +
                                " on " + DTypeName(y_dtype) + " output is not supported");
  }
  DispatchFloatType(y_dtype, "BiasActivate", [&](auto ytag) {
    using Ty = typename decltype(ytag)::type;
    if constexpr (std::is_same_v<Ty, float>) {
      DispatchFloatType(bias_dtype, "BiasActivate", [&](auto btag) {
        using Tb = typename decltype(btag)::type;
        LaunchBiasActivate<Ty, Tb>(static_cast<Ty*>(y), rows, n, static_cast<const Tb*>(bias),
                                   act, stream);
      });
    } else {
      LaunchBiasActivate<Ty, Ty>(static_cast<Ty*>(y), rows, n, static_cast<const Ty*>(bias),
                                 act, stream);
    }
  });
}

void GatedActivate(const void* x, int64_t rows, int64_t n, Activation act, void* y, DType dtype,
                   cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  DispatchFloatType(dtype, "GatedActivate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = kVec16<T>;
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    if (n % kV == 0 && Aligned(x, 16) && Aligned(y, 16)) {
      const Grid2d g = RowsGrid(rows, n / kV);
      GatedActivateKernel<T, kV><<<g.grid, g.block, 0, stream>>>(xt, rows, n, act, yt);
    } else {
      const Grid2d g = RowsGrid(rows, n);
      GatedActivateKernel<T, 1><<<g.grid, g.block, 0, stream>>>(xt, rows, n, act, yt);
    }
    INFER_CUDA_CHECK_LAUNCH();
  });
}

void Add(void* x, const void* y, int64_t n, DType dtype, cudaStream_t stream) {
  if (n <= 0) return;
  DispatchFloatType(dtype, "Add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kV = kVec16<T>;
    const int64_t vecs = Aligned(x, 16) && Aligned(y, 16) ? n / kV : 0;
    const int64_t work = vecs > 0 ? vecs : n;  // the scalar tail (< kV) rides on the vectors
    AddKernel<T><<<GridX(CeilDiv(work, kThreads)), kThreads, 0, stream>>>(
        static_cast<T*>(x), static_cast<const T*>(y), n, vecs);
    INFER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace infer::kernels::cuda
