// The few-row GEMM's instruction-set variants, for tests and benchmarks; the backend calls
// SkinnyGemm (kernels/cpu/cpu_ops.h), which picks the widest variant the CPU runs.
#pragma once

#include <cstdint>

namespace infer::kernels::cpu {

enum class SkinnyGemmIsa { kAvx2, kAvx512 };

// The variant SkinnyGemm uses on this machine: AVX-512 when the CPU has AVX512F, else AVX2 (the
// x86-64-v3 baseline). INFER_SKINNY_GEMM=avx2 in the environment forces AVX2 (for A/B runs).
SkinnyGemmIsa SkinnyGemmDefaultIsa();
bool SkinnyGemmIsaSupported(SkinnyGemmIsa isa);

// The most rows of x (for an inner size k) for which SkinnyGemm beats OpenBLAS's SGEMM
// (CpuBackend::Linear's other path) on GPT-2 small's shapes, with the default variant:
// kSkinnyGemmMaxRows (64) for AVX2. For AVX-512 it depends on the kernels OpenBLAS runs: against
// its AVX2 (Haswell) kernels 512 when k <= 1024 and 128 above; against its AVX-512 kernels
// (SkylakeX, Cooperlake) 128 and 64. Measured on a 2-core Zen 5: `engine_bench --filter
// skinny_gemm` (benchmarks/RESULTS.md).
int64_t SkinnyGemmMaxRows(int64_t k);

// y[m, n] = x[m, k] * w[n, k]^T with the given variant (which must be supported). Each output
// element's arithmetic depends only on k, the variant and its own row of x and of w, never on m
// or on the other rows: batching a row with others does not change its result.
void SkinnyGemmWith(SkinnyGemmIsa isa, const float* x, int64_t m, int64_t k, const float* w,
                    int64_t n, float* y);

}  // namespace infer::kernels::cpu
