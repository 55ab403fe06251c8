// PCA of a small point set to 1-3 dimensions (LIT's embedding projector over a batch of texts).
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::explain {

struct Projection {
  std::vector<float> coords;                    // [n, k] row-major
  std::vector<float> explained_variance_ratio;  // [k]: component variance / total variance
};

// points: [n, d] row-major. Centres the points and projects them on the k leading principal
// axes, all in double. Each axis (a length-d loading vector) is oriented so that its entry of
// largest magnitude is positive (the lowest index among equal magnitudes), which is
// scikit-learn's svd_flip convention for PCA, so results are comparable and stable across
// runs. A component with no variance (n - 1 < k, duplicate points) gets coordinates and ratio 0.
// The eigenproblem is solved on the smaller of the n x n Gram matrix and the d x d covariance
// (Householder tridiagonalisation, then implicit QR), O(min(n, d)^3).
// InvalidArgument: n < 2, d < 1, k outside [1, min(n, d)], a size mismatch, non-finite input.
absl::StatusOr<Projection> PcaProject(std::span<const float> points, int n, int d, int k);

// The `count` largest eigenvalues of a symmetric m x m matrix (row-major, both triangles
// read), in descending order, and their unit eigenvectors as the columns of a row-major
// [m, count] matrix. Exposed for tests.
void SymmetricEigen(std::span<const double> matrix, int m, int count,
                    std::vector<double>* eigenvalues, std::vector<double>* eigenvectors);

}  // namespace infer::explain
