// y = x * w^T for a few rows of x (batched decode steps). OpenBLAS's SGEMM packs the whole weight
// matrix on every call, which for 2-64 rows costs more than the arithmetic: a 16-row decode step
// of GPT-2 small took as long as 4 single-row steps. Here each weight row is read from memory
// once per call and used, from L1, for every row of x: the step streams the weights once, like
// SGEMV, and the FMAs of all rows ride on that one pass.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

constexpr int kRows = 3;  // rows of x per tile
constexpr int kCols = 4;  // rows of w (outputs) per tile: 12 accumulators + 4 operands

inline float Sum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Out-of-range rows of a partial tile read row 0 (always valid) and are not stored.
void Tile(const float* x, int64_t rows, int64_t k, const float* w, int64_t cols, float* y,
          int64_t ldy) {
  const float* xr[kRows];
  const float* wr[kCols];
  for (int i = 0; i < kRows; ++i) xr[i] = x + (i < rows ? i : 0) * k;
  for (int j = 0; j < kCols; ++j) wr[j] = w + (j < cols ? j : 0) * k;
  __m256 acc[kRows][kCols];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm256_setzero_ps();
  }
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t p = 0; p < k8; p += 8) {
    const __m256 x0 = _mm256_loadu_ps(xr[0] + p);
    const __m256 x1 = _mm256_loadu_ps(xr[1] + p);
    const __m256 x2 = _mm256_loadu_ps(xr[2] + p);
    for (int j = 0; j < kCols; ++j) {
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

}  // namespace

void SkinnyGemm(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y) {
  const int64_t col_tiles = (n + kCols - 1) / kCols;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < col_tiles; ++t) {
    const int64_t n0 = t * kCols;
    const int64_t cols = std::min<int64_t>(kCols, n - n0);
    for (int64_t m0 = 0; m0 < m; m0 += kRows) {
      Tile(x + m0 * k, std::min<int64_t>(kRows, m - m0), k, w + n0 * k, cols, y + m0 * n + n0,
           n);
    }
  }
}

}  // namespace infer::kernels::cpu
