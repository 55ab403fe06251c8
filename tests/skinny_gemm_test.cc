// The unpacked few-row GEMM behind CpuBackend::Linear (2 to SkinnyGemmMaxRows(k) rows: 64 with
// AVX2, up to 512 with AVX-512; in row blocks past 64), against a double-precision
// reference on shapes with every kind of edge: rows not a multiple of the row tile, outputs not a
// multiple of the column tile, inner sizes below, at and off the vector width. Every instruction-
// set variant this machine runs is checked (AVX2 always; AVX-512 where the CPU has it), and so is
// what makes batching safe: a row's result does not depend on the rows computed with it.
#include "kernels/cpu/skinny_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

std::vector<SkinnyGemmIsa> SupportedIsas() {
  std::vector<SkinnyGemmIsa> out;
  for (SkinnyGemmIsa isa : {SkinnyGemmIsa::kAvx2, SkinnyGemmIsa::kAvx512}) {
    if (SkinnyGemmIsaSupported(isa)) out.push_back(isa);
  }
  return out;
}

const char* Name(SkinnyGemmIsa isa) { return isa == SkinnyGemmIsa::kAvx2 ? "avx2" : "avx512"; }

TEST(SkinnyGemm, MatchesReferenceOnEdgeShapes) {
  for (SkinnyGemmIsa isa : SupportedIsas()) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t m : {1, 2, 3, 4, 5, 7, 16, 17, 32, 64, 65, 130}) {
      for (int64_t k : {1, 7, 8, 9, 15, 16, 17, 64, 769, 1041}) {
        for (int64_t n : {1, 3, 4, 5, 6, 7, 13, 33}) {
          std::vector<float> x(m * k), w(n * k), y(m * n, NAN);
          for (float& v : x) v = u(rng);
          for (float& v : w) v = u(rng);
          SkinnyGemmWith(isa, x.data(), m, k, w.data(), n, y.data());
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double ref = 0, mag = 0;
              for (int64_t p = 0; p < k; ++p) {
                ref += static_cast<double>(x[i * k + p]) * w[j * k + p];
                mag += std::fabs(static_cast<double>(x[i * k + p]) * w[j * k + p]);
              }
              ASSERT_NEAR(y[i * n + j], ref, 1e-6 * mag + 1e-6)
                  << Name(isa) << " m=" << m << " k=" << k << " n=" << n << " at " << i << ","
                  << j;
            }
          }
        }
      }
    }
  }
}

// Continuous batching computes a sequence's row together with whatever other rows the step holds;
// its tokens must not depend on them. Row i of an m-row product equals, bit for bit, the same row
// computed in any other batch of 2..SkinnyGemmMaxRows(k) rows, at any position in it (inner sizes
// on both sides of the row-block switch at 1024).
TEST(SkinnyGemm, RowResultsDoNotDependOnTheBatch) {
  for (SkinnyGemmIsa isa : SupportedIsas()) {
    for (int64_t k : {771, 1100}) {
      std::mt19937 rng(11);
      std::normal_distribution<float> g(0, 1);
      const int64_t n = 37, rows = 200;
      std::vector<float> x(rows * k), w(n * k);
      for (float& v : x) v = g(rng);
      for (float& v : w) v = g(rng);
      std::vector<float> all(rows * n);
      SkinnyGemmWith(isa, x.data(), rows, k, w.data(), n, all.data());
      for (int64_t m : {2, 3, 5, 16, 33, 64, 65, 129}) {
        for (int64_t start : {int64_t{0}, rows - m, (rows - m) / 2}) {
          std::vector<float> y(m * n);
          SkinnyGemmWith(isa, x.data() + start * k, m, k, w.data(), n, y.data());
          EXPECT_EQ(0, std::memcmp(y.data(), all.data() + start * n, y.size() * sizeof(float)))
              << Name(isa) << " k=" << k << " rows [" << start << ", " << start + m << ") of "
              << rows;
        }
      }
    }
  }
}

TEST(SkinnyGemm, DefaultVariantIsSupported) {
  EXPECT_TRUE(SkinnyGemmIsaSupported(SkinnyGemmDefaultIsa()));
  EXPECT_TRUE(SkinnyGemmIsaSupported(SkinnyGemmIsa::kAvx2));
  for (int64_t k : {768, 3072}) EXPECT_GE(SkinnyGemmMaxRows(k), kSkinnyGemmMaxRows);
}

}  // namespace
}  // namespace infer::kernels::cpu
