// PCA projection: hand cases, the sign convention, and random sets checked against the
// covariance eigen-equation.
#include "server/explain/pca.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

std::vector<float> RandomPoints(int n, int d, uint64_t seed) {
  std::vector<float> p(static_cast<size_t>(n) * d);
  for (size_t i = 0; i < p.size(); ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    // Anisotropic: dimension j scaled by 1/(1+j) so the components are well separated.
    p[i] = static_cast<float>((static_cast<double>(seed >> 11) / 9007199254740992.0 - 0.5) /
                              (1.0 + static_cast<double>(i % d)));
  }
  return p;
}

TEST(ExplainPca, AxisAlignedHandCase) {
  // Centred already; variance 8 along x, 2 along y.
  const std::vector<float> pts = {2, 0, -2, 0, 0, 1, 0, -1};
  auto p = PcaProject(pts, 4, 2, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::vector<float> want = {2, 0, -2, 0, 0, 1, 0, -1};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(p->coords[i], want[i], 1e-6) << i;
  EXPECT_NEAR(p->explained_variance_ratio[0], 0.8, 1e-7);
  EXPECT_NEAR(p->explained_variance_ratio[1], 0.2, 1e-7);
}

TEST(ExplainPca, PointsOnALineAndTheSignConvention) {
  // Mean (1, 2); the axis is (1, 2)/sqrt(5), oriented so its larger entry (2/sqrt5) is
  // positive; the second component has no variance.
  const std::vector<float> pts = {2, 4, 4, 8, 0, 0, -2, -4};
  auto p = PcaProject(pts, 4, 2, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  const double r5 = std::sqrt(5.0);
  const double want[4] = {r5, 3 * r5, -r5, -3 * r5};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(p->coords[i * 2], want[i], 1e-5) << i;
    EXPECT_EQ(p->coords[i * 2 + 1], 0.0f) << i;
  }
  EXPECT_NEAR(p->explained_variance_ratio[0], 1.0, 1e-7);
  EXPECT_EQ(p->explained_variance_ratio[1], 0.0f);
  // Mirrored input: same axis orientation, so the coordinates mirror too.
  std::vector<float> mirrored = pts;
  for (float& x : mirrored) x = -x;
  auto m = PcaProject(mirrored, 4, 2, 1);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(m->coords[i], -want[i], 1e-5) << i;
}

TEST(ExplainPca, NegativeLargestLoadingIsFlipped) {
  // Axis along (1, -3)/sqrt(10): the largest-magnitude entry (-3) must come out positive, so
  // the point at +t(1, -3) gets a negative coordinate.
  const std::vector<float> pts = {1, -3, -1, 3};
  auto p = PcaProject(pts, 2, 2, 1);
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(p->coords[0], -std::sqrt(10.0), 1e-5);
  EXPECT_NEAR(p->coords[1], std::sqrt(10.0), 1e-5);
}

// The coordinates y_c = X v_c of component c must come from an eigenvector of C = X^T X:
// v = X^T y / ||X^T y||, C v = lambda v with lambda = ||y||^2, descending, and the ratios are
// lambda / trace(C). With k = min(n, d) the full spectrum is there, so the top is the top.
void CheckEigenEquation(int n, int d, int k, uint64_t seed) {
  const std::vector<float> pts = RandomPoints(n, d, seed);
  auto p = PcaProject(pts, n, d, k);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<double> x(pts.begin(), pts.end());
  for (int j = 0; j < d; ++j) {
    double mean = 0;
    for (int i = 0; i < n; ++i) mean += x[i * d + j];
    for (int i = 0; i < n; ++i) x[i * d + j] -= mean / n;
  }
  double trace = 0;
  for (double e : x) trace += e * e;
  double prev = INFINITY, ratio_sum = 0;
  for (int c = 0; c < k; ++c) {
    double lambda = 0;
    for (int i = 0; i < n; ++i) lambda += static_cast<double>(p->coords[i * k + c]) * p->coords[i * k + c];
    EXPECT_LE(lambda, prev * (1 + 1e-6)) << "component " << c;
    prev = lambda;
    EXPECT_NEAR(p->explained_variance_ratio[c], lambda / trace, 1e-5);
    ratio_sum += p->explained_variance_ratio[c];
    if (lambda < 1e-9 * trace) continue;  // a zero component
    std::vector<double> v(d, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j) v[j] += x[i * d + j] * p->coords[i * k + c];
    double len = 0;
    for (double e : v) len += e * e;
    for (double& e : v) e /= std::sqrt(len);
    int big = 0;
    for (int j = 1; j < d; ++j)
      if (std::fabs(v[j]) > std::fabs(v[big])) big = j;
    EXPECT_GT(v[big], 0.0) << "sign convention, component " << c;
    double resid = 0;
    for (int j = 0; j < d; ++j) {  // (C v)_j = sum_i x_ij (x_i . v)
      double cv = 0;
      for (int i = 0; i < n; ++i) {
        double xv = 0;
        for (int l = 0; l < d; ++l) xv += x[i * d + l] * v[l];
        cv += x[i * d + j] * xv;
      }
      resid += (cv - lambda * v[j]) * (cv - lambda * v[j]);
    }
    EXPECT_LT(std::sqrt(resid) / lambda, 1e-5) << "component " << c;
  }
  if (k == std::min(n, d)) {
    EXPECT_NEAR(ratio_sum, 1.0, 1e-5);
  }
}

TEST(ExplainPca, RandomFewPointsManyDims) { CheckEigenEquation(6, 40, 3, 1); }  // Gram path
TEST(ExplainPca, RandomFullSpectrumGram) { CheckEigenEquation(5, 9, 5, 2); }   // rank 4 of 5
TEST(ExplainPca, RandomManyPointsFewDims) { CheckEigenEquation(50, 4, 4, 3); }  // covariance path
TEST(ExplainPca, RandomThreeOfMany) { CheckEigenEquation(64, 32, 3, 4); }

TEST(ExplainPca, DuplicatePointsGiveZeroCoordinates) {
  const std::vector<float> pts(3 * 5, 1.25f);
  auto p = PcaProject(pts, 3, 5, 2);
  ASSERT_TRUE(p.ok());
  for (float c : p->coords) EXPECT_EQ(c, 0.0f);
  for (float r : p->explained_variance_ratio) EXPECT_EQ(r, 0.0f);
}

TEST(ExplainPca, RejectsBadArguments) {
  const std::vector<float> pts = RandomPoints(4, 3, 5);
  EXPECT_EQ(PcaProject(pts, 4, 3, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PcaProject(pts, 4, 3, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PcaProject(std::span<const float>(pts).first(3), 1, 3, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PcaProject(pts, 3, 3, 2).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> nan = pts;
  nan[5] = NAN;
  EXPECT_EQ(PcaProject(nan, 4, 3, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(PcaProject(pts, 4, 3, 3).ok());
}

void CheckEigen(const std::vector<double>& a, int m, int count) {
  std::vector<double> w, v;
  SymmetricEigen(a, m, count, &w, &v);
  ASSERT_EQ(w.size(), static_cast<size_t>(count));
  ASSERT_EQ(v.size(), static_cast<size_t>(m) * count);
  double scale = 0;
  for (double x : a) scale = std::max(scale, std::fabs(x));
  for (int c = 1; c < count; ++c) EXPECT_GE(w[c - 1], w[c]);
  for (int c = 0; c < count; ++c) {
    for (int r = 0; r < m; ++r) {
      double av = 0;
      for (int k = 0; k < m; ++k) av += a[r * m + k] * v[k * count + c];
      EXPECT_NEAR(av, w[c] * v[r * count + c], 1e-12 * m * scale) << "pair " << c << " row " << r;
    }
    for (int c2 = 0; c2 < count; ++c2) {
      double dot = 0;
      for (int r = 0; r < m; ++r) dot += v[r * count + c] * v[r * count + c2];
      EXPECT_NEAR(dot, c == c2 ? 1.0 : 0.0, 1e-12 * m);
    }
  }
  if (count == m) {  // the full spectrum: eigenvalues sum to the trace
    double trace = 0, sum = 0;
    for (int i = 0; i < m; ++i) trace += a[i * m + i];
    for (double x : w) sum += x;
    EXPECT_NEAR(sum, trace, 1e-12 * m * scale);
  }
}

std::vector<double> RandomSymmetric(int m, uint64_t s) {
  std::vector<double> a(static_cast<size_t>(m) * m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j <= i; ++j) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      a[i * m + j] = a[j * m + i] = static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5;
    }
  return a;
}

TEST(ExplainPca, SymmetricEigenRandom) {
  for (int m : {1, 2, 3, 9, 40}) CheckEigen(RandomSymmetric(m, 77 + m), m, m);
  CheckEigen(RandomSymmetric(60, 5), 60, 3);
}

TEST(ExplainPca, SymmetricEigenRepeatedAndStructured) {
  // Repeated eigenvalues: diag(2, 2, 2, -1) rotated by a reflection; the identity; a matrix that
  // is already tridiagonal; a rank-one matrix (many zero eigenvalues); the zero matrix.
  const int m = 4;
  std::vector<double> u = {1, 2, -1, 3};
  double n2 = 0;
  for (double x : u) n2 += x * x;
  std::vector<double> a(m * m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) {
      // H diag(2,2,2,-1) H with H = I - 2 u u^T / |u|^2: eigenvalues 2 (x3) and -1.
      double acc = 0;
      for (int k = 0; k < m; ++k) {
        const double hik = (i == k) - 2 * u[i] * u[k] / n2, hjk = (j == k) - 2 * u[j] * u[k] / n2;
        acc += hik * (k == 3 ? -1.0 : 2.0) * hjk;
      }
      a[i * m + j] = acc;
    }
  CheckEigen(a, m, m);
  std::vector<double> w, v;
  SymmetricEigen(a, m, m, &w, &v);
  EXPECT_NEAR(w[0], 2, 1e-12);
  EXPECT_NEAR(w[2], 2, 1e-12);
  EXPECT_NEAR(w[3], -1, 1e-12);

  std::vector<double> eye(25, 0.0), tri(25, 0.0), rank1(25), zero(25, 0.0);
  for (int i = 0; i < 5; ++i) {
    eye[i * 5 + i] = 1;
    tri[i * 5 + i] = i;
    if (i + 1 < 5) tri[i * 5 + i + 1] = tri[(i + 1) * 5 + i] = 0.5;
    for (int j = 0; j < 5; ++j) rank1[i * 5 + j] = (i + 1.0) * (j + 1.0);
  }
  CheckEigen(eye, 5, 5);
  CheckEigen(tri, 5, 5);
  CheckEigen(rank1, 5, 5);
  SymmetricEigen(rank1, 5, 1, &w, &v);
  EXPECT_NEAR(w[0], 55.0, 1e-12);  // |(1..5)|^2
  CheckEigen(zero, 5, 2);
}

}  // namespace
}  // namespace infer::explain
