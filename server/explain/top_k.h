// The k largest entries of a row, for the top_k_keys selection of attention-shaped maps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

namespace infer::explain {

// Writes the k largest entries of `row` (k clamped to row.size()) to values[0..k) and their
// positions to indices[0..k), largest first; equal values keep the lower index first, so the
// result is the same on every platform. NaN ranks below every number.
void TopKRow(std::span<const float> row, int k, uint32_t* indices, float* values);

// The same order as positions only, for any arithmetic type (lens candidates rank doubles).
template <typename T>
std::vector<uint32_t> TopKIndices(std::span<const T> row, int k) {
  const size_t kk = std::min(row.size(), static_cast<size_t>(std::max(k, 0)));
  std::vector<uint32_t> idx(row.size());
  std::iota(idx.begin(), idx.end(), 0u);
  // A strict weak order even with NaN: NaN compares as the smallest value.
  auto before = [&row](uint32_t a, uint32_t b) {
    const T va = row[a], vb = row[b];
    const bool na = std::isnan(static_cast<double>(va)), nb = std::isnan(static_cast<double>(vb));
    if (na != nb) return nb;
    if (!na && va != vb) return va > vb;
    return a < b;
  };
  std::partial_sort(idx.begin(), idx.begin() + static_cast<ptrdiff_t>(kk), idx.end(), before);
  idx.resize(kk);
  return idx;
}

}  // namespace infer::explain
