#include "server/explain/pca.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infer::explain {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Householder reduction A = Q T Q^T, T tridiagonal (diagonal d, off-diagonal e). Row j of `a`
// keeps reflector j's vector in a[j][j+1..m-1] (beta[j] = 0: no reflection), Q = H_0 ... H_{m-3}.
// Row-major rows stay contiguous in every inner loop.
void Tridiagonalize(std::vector<double>& a, size_t m, std::vector<double>* d,
                    std::vector<double>* e, std::vector<double>* beta) {
  d->assign(m, 0.0);
  e->assign(m > 0 ? m - 1 : 0, 0.0);
  beta->assign(m, 0.0);
  std::vector<double> p(m), w(m);
  for (size_t j = 0; j + 2 < m; ++j) {
    double* v = a.data() + j * m + j + 1;  // x = column j below the diagonal = row j right of it
    const size_t len = m - j - 1;
    double sigma = 0.0;
    for (size_t i = 1; i < len; ++i) sigma += v[i] * v[i];
    (*d)[j] = a[j * m + j];
    if (sigma == 0.0) {  // already tridiagonal in this column
      (*e)[j] = v[0];
      continue;
    }
    // v = x + sign(x0) ||x|| e1 avoids cancellation; H x = -sign(x0) ||x|| e1.
    const double norm = std::sqrt(v[0] * v[0] + sigma);
    const double sign = v[0] < 0 ? -1.0 : 1.0;
    (*e)[j] = -sign * norm;
    v[0] += sign * norm;
    const double b = 2.0 / (v[0] * v[0] + sigma);
    (*beta)[j] = b;
    // A22 <- H A22 H = A22 - v w^T - w v^T, p = b A22 v, w = p - (b/2)(p.v) v.
    double pv = 0.0;
    for (size_t r = 0; r < len; ++r) {
      const double* row = a.data() + (j + 1 + r) * m + j + 1;
      double acc = 0.0;
      for (size_t c = 0; c < len; ++c) acc += row[c] * v[c];
      p[r] = b * acc;
      pv += p[r] * v[r];
    }
    for (size_t r = 0; r < len; ++r) w[r] = p[r] - 0.5 * b * pv * v[r];
    for (size_t r = 0; r < len; ++r) {
      double* row = a.data() + (j + 1 + r) * m + j + 1;
      const double vr = v[r], wr = w[r];
      for (size_t c = 0; c < len; ++c) row[c] -= vr * w[c] + wr * v[c];
    }
  }
  if (m >= 2) {
    (*d)[m - 2] = a[(m - 2) * m + m - 2];
    (*e)[m - 2] = a[(m - 2) * m + m - 1];
  }
  if (m >= 1) (*d)[m - 1] = a[(m - 1) * m + m - 1];
}

// Implicit symmetric QR with Wilkinson shifts on (d, e); the rotations are accumulated into zt
// (m x m, row i = eigenvector i of T, rows so that each rotation touches two contiguous rows).
void TridiagonalQr(std::vector<double>* d_, std::vector<double>* e_, size_t m,
                   std::vector<double>* zt) {
  std::vector<double>& d = *d_;
  std::vector<double>& e = *e_;
  zt->assign(m * m, 0.0);
  for (size_t i = 0; i < m; ++i) (*zt)[i * m + i] = 1.0;
  size_t hi = m > 0 ? m - 1 : 0;
  // Each eigenvalue takes 2-3 steps in practice; the cap only guards against a pathological
  // input spinning for ever (the result is then as converged as it got).
  for (size_t steps = 0; hi > 0 && steps < 64 * m; ++steps) {
    if (std::fabs(e[hi - 1]) <= kEps * (std::fabs(d[hi - 1]) + std::fabs(d[hi]))) {
      e[hi - 1] = 0.0;  // d[hi] has converged
      --hi;
      continue;
    }
    size_t lo = hi - 1;  // the unreduced block [lo, hi]
    while (lo > 0 && std::fabs(e[lo - 1]) > kEps * (std::fabs(d[lo - 1]) + std::fabs(d[lo]))) --lo;
    // Wilkinson shift: the eigenvalue of the trailing 2x2 nearer d[hi].
    const double delta = 0.5 * (d[hi - 1] - d[hi]), bb = e[hi - 1];
    const double mu = d[hi] - bb * bb / (delta + std::copysign(std::hypot(delta, bb), delta));
    double x = d[lo] - mu, z = e[lo];
    for (size_t k = lo; k < hi; ++k) {
      // Rotation R = [[c, -s], [s, c]] in the (k, k+1) plane with R (x, z) = (r, 0): on the first
      // column of T - mu I, then chasing the bulge down.
      const double r = std::hypot(x, z);
      const double c = r == 0.0 ? 1.0 : x / r, s = r == 0.0 ? 0.0 : -z / r;
      if (k > lo) e[k - 1] = r;
      const double a = d[k], b = e[k], cc = d[k + 1];
      d[k] = c * c * a - 2 * c * s * b + s * s * cc;
      d[k + 1] = s * s * a + 2 * c * s * b + c * c * cc;
      e[k] = c * s * (a - cc) + (c * c - s * s) * b;
      if (k + 1 < hi) {
        x = e[k];
        z = -s * e[k + 1];  // the bulge at (k+2, k)
        e[k + 1] *= c;
      }
      double* zk = zt->data() + k * m;
      double* zk1 = zk + m;
      for (size_t i = 0; i < m; ++i) {
        const double u = zk[i], t = zk1[i];
        zk[i] = c * u - s * t;
        zk1[i] = s * u + c * t;
      }
    }
  }
}

}  // namespace

void SymmetricEigen(std::span<const double> matrix, int m, int count,
                    std::vector<double>* eigenvalues, std::vector<double>* eigenvectors) {
  const size_t mm = std::max(m, 0);
  const size_t kk = std::min(mm, static_cast<size_t>(std::max(count, 0)));
  std::vector<double> a(matrix.begin(), matrix.end());
  std::vector<double> d, e, beta, zt;
  Tridiagonalize(a, mm, &d, &e, &beta);
  TridiagonalQr(&d, &e, mm, &zt);
  std::vector<size_t> order(mm);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&d](size_t x, size_t y) { return d[x] > d[y]; });
  eigenvalues->resize(kk);
  eigenvectors->assign(mm * kk, 0.0);
  std::vector<double> y(mm);
  for (size_t c = 0; c < kk; ++c) {
    (*eigenvalues)[c] = d[order[c]];
    // Back to A's basis: y = Q z = H_0 (H_1 (... H_{m-3} z)).
    std::copy_n(zt.data() + order[c] * mm, mm, y.data());
    for (size_t j = mm >= 2 ? mm - 2 : 0; j-- > 0;) {
      if (beta[j] == 0.0) continue;
      const double* v = a.data() + j * mm + j + 1;
      double* yy = y.data() + j + 1;
      const size_t len = mm - j - 1;
      double dot = 0.0;
      for (size_t i = 0; i < len; ++i) dot += v[i] * yy[i];
      dot *= beta[j];
      for (size_t i = 0; i < len; ++i) yy[i] -= dot * v[i];
    }
    for (size_t r = 0; r < mm; ++r) (*eigenvectors)[r * kk + c] = y[r];
  }
}

absl::StatusOr<Projection> PcaProject(std::span<const float> points, int n, int d, int k) {
  if (n < 2) return absl::InvalidArgumentError(absl::StrCat("PCA needs at least 2 points, got ", n));
  if (d < 1) return absl::InvalidArgumentError("PCA needs at least 1 dimension");
  if (k < 1 || k > std::min(n, d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA to ", k, " dimensions needs 1 <= k <= min(points, dims) = ", std::min(n, d)));
  }
  const size_t nn = n, dd = d;
  if (points.size() != nn * dd) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA input has ", points.size(), " values, expected ", n, " x ", d));
  }
  for (float x : points) {
    if (!std::isfinite(x)) return absl::InvalidArgumentError("PCA input is not finite");
  }

  std::vector<double> x(nn * dd);  // centred points
  for (size_t c = 0; c < dd; ++c) {
    double mean = 0.0;
    for (size_t i = 0; i < nn; ++i) mean += points[i * dd + c];
    mean /= n;
    for (size_t i = 0; i < nn; ++i) x[i * dd + c] = points[i * dd + c] - mean;
  }
  double total = 0.0;
  for (double e : x) total += e * e;

  // The nonzero eigenvalues of X X^T (n x n) and X^T X (d x d) are the same; decompose the
  // smaller. With the Gram matrix, axis v = X^T u (normalised).
  const bool gram = nn <= dd;
  const int m = gram ? n : d;
  std::vector<double> s(static_cast<size_t>(m) * m);
  if (gram) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1.0, x.data(), d, x.data(), d,
                0.0, s.data(), n);
  } else {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, n, 1.0, x.data(), d, x.data(), d,
                0.0, s.data(), d);
  }
  for (int i = 0; i < m; ++i)  // blocked GEMM may round (i,j) and (j,i) differently
    for (int j = i + 1; j < m; ++j) s[i * m + j] = s[j * m + i] = 0.5 * (s[i * m + j] + s[j * m + i]);
  std::vector<double> evals, evecs;  // the k leading pairs; evecs is [m, k]
  SymmetricEigen(s, m, k, &evals, &evecs);

  Projection out;
  out.coords.assign(nn * k, 0.0f);
  out.explained_variance_ratio.assign(k, 0.0f);
  std::vector<double> axis(dd);
  for (int c = 0; c < k; ++c) {
    // Below this the "variance" is rounding noise of a rank-deficient set (n - 1 < k, or
    // duplicate points): a direction picked by noise would only confuse the plot.
    if (total == 0.0 || evals[c] <= 1e-12 * total) continue;
    if (gram) {
      std::fill(axis.begin(), axis.end(), 0.0);
      for (size_t i = 0; i < nn; ++i) {
        const double u = evecs[i * k + c];
        for (size_t j = 0; j < dd; ++j) axis[j] += u * x[i * dd + j];
      }
      double len = 0.0;
      for (double e : axis) len += e * e;
      len = std::sqrt(len);
      for (double& e : axis) e /= len;
    } else {
      for (size_t j = 0; j < dd; ++j) axis[j] = evecs[j * k + c];
    }
    size_t big = 0;
    for (size_t j = 1; j < dd; ++j)
      if (std::fabs(axis[j]) > std::fabs(axis[big])) big = j;
    const double sign = axis[big] < 0 ? -1.0 : 1.0;
    for (size_t i = 0; i < nn; ++i) {
      double dot = 0.0;
      for (size_t j = 0; j < dd; ++j) dot += x[i * dd + j] * axis[j];
      out.coords[i * k + c] = static_cast<float>(sign * dot);
    }
    out.explained_variance_ratio[c] = static_cast<float>(evals[c] / total);
  }
  return out;
}

}  // namespace infer::explain
