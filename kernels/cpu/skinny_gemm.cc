// y = x * w^T for a few rows of x (batched decode steps). OpenBLAS's SGEMM packs the whole weight
// matrix on every call, which for 2-64 rows costs more than the arithmetic: a 16-row decode step
// of GPT-2 small took as long as 4 single-row steps. Here each weight row is read from memory
// once per call and used, from L1, for every row of x: the step streams the weights once, like
// SGEMV, and the FMAs of all rows ride on that one pass.
//
// Register tile: kRows rows of x by kCols rows of w, one vector accumulator per output, each a
// dot product over k. Two variants: AVX2 (the x86-64-v3 baseline, 16 ymm registers: 3 x 4) and
// AVX-512, compiled for that target alone and chosen at run time when the CPU has it (32 zmm
// registers: 4 x 6, twice the lanes, and a software prefetch of the next weight tile while the
// current one is in use). On the 2-core Zen 5 this was tuned on, the AVX-512 variant does a
// 16-row GPT-2 decode step's GEMMs in ~0.55x the AVX2 variant's time; it beats OpenBLAS 0.3.21's
// AVX2 (Haswell) kernels up to 512 rows and its AVX-512 ones up to 48-128, so Linear sends it up
// to SkinnyGemmMaxRows(k) rows.
//
// Work split: contiguous chunks of column tiles, taken dynamically by the threads (a thread
// preempted by the gRPC threads that share the cores delays only its current chunk). A tile is
// read from memory by its first row tile and from L1/L2 by the others; past 64 rows (32 when k
// is large), rows go in blocks so that a block of x stays in L2.
#include "kernels/cpu/skinny_gemm.h"

#include <cblas.h>
#include <immintrin.h>
#include <strings.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

// ---- AVX2 -------------------------------------------------------------------------------------

constexpr int kRows2 = 3;  // rows of x per tile
constexpr int kCols2 = 4;  // rows of w (outputs) per tile: 12 accumulators + 4 operands

inline float Sum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Out-of-range rows of a partial tile read row 0 (always valid) and are not stored.
void Tile2(const float* x, int64_t rows, int64_t k, const float* w, int64_t cols, float* y,
           int64_t ldy) {
  const float* xr[kRows2];
  const float* wr[kCols2];
  for (int i = 0; i < kRows2; ++i) xr[i] = x + (i < rows ? i : 0) * k;
  for (int j = 0; j < kCols2; ++j) wr[j] = w + (j < cols ? j : 0) * k;
  __m256 acc[kRows2][kCols2];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm256_setzero_ps();
  }
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t p = 0; p < k8; p += 8) {
    const __m256 x0 = _mm256_loadu_ps(xr[0] + p);
    const __m256 x1 = _mm256_loadu_ps(xr[1] + p);
    const __m256 x2 = _mm256_loadu_ps(xr[2] + p);
    for (int j = 0; j < kCols2; ++j) {
      const __m256 wv = _mm256_loadu_ps(wr[j] + p);
      acc[0][j] = _mm256_fmadd_ps(x0, wv, acc[0][j]);
      acc[1][j] = _mm256_fmadd_ps(x1, wv, acc[1][j]);
      acc[2][j] = _mm256_fmadd_ps(x2, wv, acc[2][j]);
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      float s = Sum(acc[i][j]);
      for (int64_t p = k8; p < k; ++p) s += xr[i][p] * wr[j][p];
      y[i * ldy + j] = s;
    }
  }
}

void ColumnTiles2(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y,
                  int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n0 = t * kCols2;
    const int64_t cols = std::min<int64_t>(kCols2, n - n0);
    for (int64_t m0 = 0; m0 < m; m0 += kRows2) {
      Tile2(x + m0 * k, std::min<int64_t>(kRows2, m - m0), k, w + n0 * k, cols, y + m0 * n + n0,
            n);
    }
  }
}

// ---- AVX-512 ----------------------------------------------------------------------------------

#define INFER_AVX512 __attribute__((target("avx512f")))
// GCC 12's AVX-512 headers pass _mm512_undefined_ps() as the unused merge source of the
// shuffle/extract builtins, which -Wmaybe-uninitialized reports once inlined; nothing here reads
// an undefined lane.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Horizontal sum: the two 256-bit halves added, then the AVX2 sum.
INFER_AVX512 inline float Sum(__m512 v) {
  const __m512 hi = _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2));  // upper half, twice
  return Sum(_mm512_castps512_ps256(_mm512_add_ps(v, hi)));
}

constexpr int kRows5 = 4;  // rows of x per tile
constexpr int kCols5 = 6;  // rows of w per tile: 24 accumulators + 4 x operands + 1 w operand

// R rows of x (R <= kRows5, a template argument so a partial row tile does no wasted FMAs) by
// kCols5 rows of w, of which `cols` are real (the others repeat row 0 and are not stored).
// `next`, when not null, is the next column tile's weights: one line of each of its rows is
// prefetched into L2 per 16-float step, so that the tile after this one comes from L2 rather
// than from memory (each pass over a tile prefetches it again; the later passes hit L2 at once).
template <int R>
INFER_AVX512 void Tile5(const float* x, int64_t k, const float* w, int64_t cols, float* y,
                        int64_t ldy, const float* next) {
  const float* wr[kCols5];
  for (int j = 0; j < kCols5; ++j) wr[j] = w + (j < cols ? j : 0) * k;
  __m512 acc[R][kCols5];
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < kCols5; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  const int64_t k16 = k & ~int64_t{15};
  for (int64_t p = 0; p < k16; p += 16) {
    __m512 xv[R];
    for (int i = 0; i < R; ++i) xv[i] = _mm512_loadu_ps(x + i * k + p);
    for (int j = 0; j < kCols5; ++j) {
      const __m512 wv = _mm512_loadu_ps(wr[j] + p);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
      if (next != nullptr) {
        _mm_prefetch(reinterpret_cast<const char*>(next + j * k + p), _MM_HINT_T1);
      }
    }
  }
  if (k16 < k) {  // the last k % 16 columns, through masked loads (zeros beyond k)
    const __mmask16 tail = static_cast<__mmask16>((1u << (k - k16)) - 1);
    __m512 xv[R];
    for (int i = 0; i < R; ++i) xv[i] = _mm512_maskz_loadu_ps(tail, x + i * k + k16);
    for (int j = 0; j < kCols5; ++j) {
      const __m512 wv = _mm512_maskz_loadu_ps(tail, wr[j] + k16);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < cols; ++j) y[i * ldy + j] = Sum(acc[i][j]);
  }
}

INFER_AVX512 void ColumnTiles5(const float* x, int64_t m, int64_t k, const float* w, int64_t n,
                               float* y, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n0 = t * kCols5;
    const int64_t cols = std::min<int64_t>(kCols5, n - n0);
    const float* wt = w + n0 * k;
    // The next tile of this thread's range, when it is a whole one.
    const float* next = t + 1 < t1 && n0 + 2 * kCols5 <= n ? wt + kCols5 * k : nullptr;
    float* yt = y + n0;
    int64_t m0 = 0;
    for (; m0 + kRows5 <= m; m0 += kRows5) {
      Tile5<kRows5>(x + m0 * k, k, wt, cols, yt + m0 * n, n, next);
    }
    static_assert(kRows5 == 4, "the partial row tiles below assume 4-row tiles");
    switch (m - m0) {
      case 1: Tile5<1>(x + m0 * k, k, wt, cols, yt + m0 * n, n, next); break;
      case 2: Tile5<2>(x + m0 * k, k, wt, cols, yt + m0 * n, n, next); break;
      case 3: Tile5<3>(x + m0 * k, k, wt, cols, yt + m0 * n, n, next); break;
      default: break;
    }
  }
}

#pragma GCC diagnostic pop
#undef INFER_AVX512

bool Avx512Available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

SkinnyGemmIsa DetectDefaultIsa() {
  const char* force = std::getenv("INFER_SKINNY_GEMM");
  if (force != nullptr && std::strcmp(force, "avx2") == 0) return SkinnyGemmIsa::kAvx2;
  return Avx512Available() ? SkinnyGemmIsa::kAvx512 : SkinnyGemmIsa::kAvx2;
}

}  // namespace

SkinnyGemmIsa SkinnyGemmDefaultIsa() {
  static const SkinnyGemmIsa isa = DetectDefaultIsa();
  return isa;
}

bool SkinnyGemmIsaSupported(SkinnyGemmIsa isa) {
  return isa == SkinnyGemmIsa::kAvx2 || Avx512Available();
}

namespace {

bool OpenBlasRunsAvx512() {
  static const bool avx512 = [] {
    const char* name = openblas_get_corename();
    if (name == nullptr) return false;
    for (const char* wide : {"skylakex", "cooperlake", "sapphirerapids"}) {
      if (strcasecmp(name, wide) == 0) return true;
    }
    return false;
  }();
  return avx512;
}

}  // namespace

int64_t SkinnyGemmMaxRows(int64_t k) {
  if (SkinnyGemmDefaultIsa() != SkinnyGemmIsa::kAvx512) return kSkinnyGemmMaxRows;
  // Crossovers measured with `engine_bench --filter skinny_gemm` on the 2-core Zen 5. OpenBLAS
  // chooses its AVX-512 kernels there by itself (Cooperlake), unless OPENBLAS_CORETYPE pins
  // another set (the machine these figures come from pins Haswell in its environment).
  // Against AVX-512 OpenBLAS the k > 1024 crossover is ~48 rows; 64 is kept (1.3x slower at 64
  // rows there) so that a decode step of up to 64 sequences never changes GEMM with its size.
  if (OpenBlasRunsAvx512()) return k <= 1024 ? 128 : 64;
  return k <= 1024 ? 512 : 128;
}

void SkinnyGemmWith(SkinnyGemmIsa isa, const float* x, int64_t m, int64_t k, const float* w,
                    int64_t n, float* y) {
  const bool wide = isa == SkinnyGemmIsa::kAvx512;
  const int64_t cols = wide ? kCols5 : kCols2;
  const int64_t tiles = (n + cols - 1) / cols;
  // Past 64 rows, blocks of rows small enough to stay in L2 (1 MB on the machines measured)
  // while the weights stream past once per block.
  const int64_t row_block = k <= 1024 ? 64 : 32;
  // Column tiles in chunks taken dynamically, so that a thread the OS preempts (gRPC threads
  // share the cores) holds up only its current chunk, not a fixed half of the work; a chunk is a
  // contiguous run of tiles, streamed front to back.
  const int64_t per_chunk = std::clamp<int64_t>(tiles / 32, 2, 64);
  const int64_t chunks = (tiles + per_chunk - 1) / per_chunk;
#pragma omp parallel
  {
    for (int64_t r0 = 0; r0 < m; r0 += row_block) {
      const int64_t rows = std::min(row_block, m - r0);
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t t0 = c * per_chunk, t1 = std::min(tiles, t0 + per_chunk);
        if (wide) {
          ColumnTiles5(x + r0 * k, rows, k, w, n, y + r0 * n, t0, t1);
        } else {
          ColumnTiles2(x + r0 * k, rows, k, w, n, y + r0 * n, t0, t1);
        }
      }
    }
  }
}

void SkinnyGemm(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y) {
  SkinnyGemmWith(SkinnyGemmDefaultIsa(), x, m, k, w, n, y);
}

}  // namespace infer::kernels::cpu
