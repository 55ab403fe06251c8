// The unpacked few-row GEMM behind CpuBackend::Linear for 2-64 rows, against a double-precision
// reference on shapes with every kind of edge: rows not a multiple of the row tile, outputs not a
// multiple of the column tile, inner sizes below, at and off the vector width.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

TEST(SkinnyGemm, MatchesReferenceOnEdgeShapes) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 2, 3, 4, 7, 16, 32, 64}) {
    for (int64_t k : {1, 7, 8, 9, 64, 769}) {
      for (int64_t n : {1, 3, 4, 5, 33}) {
        std::vector<float> x(m * k), w(n * k), y(m * n, NAN);
        for (float& v : x) v = u(rng);
        for (float& v : w) v = u(rng);
        SkinnyGemm(x.data(), m, k, w.data(), n, y.data());
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double ref = 0, mag = 0;
            for (int64_t p = 0; p < k; ++p) {
              ref += static_cast<double>(x[i * k + p]) * w[j * k + p];
              mag += std::fabs(static_cast<double>(x[i * k + p]) * w[j * k + p]);
            }
            ASSERT_NEAR(y[i * n + j], ref, 1e-6 * mag + 1e-6)
                << "m=" << m << " k=" << k << " n=" << n << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace infer::kernels::cpu
