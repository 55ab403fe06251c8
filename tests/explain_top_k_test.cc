// Top-k selection of a row: order, ties and edge sizes.
#include "server/explain/top_k.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

TEST(ExplainTopK, LargestFirst) {
  const std::vector<float> row = {0.1f, 0.5f, -1.0f, 0.3f, 0.2f};
  uint32_t idx[3];
  float val[3];
  TopKRow(row, 3, idx, val);
  EXPECT_EQ(idx[0], 1u);
  EXPECT_EQ(idx[1], 3u);
  EXPECT_EQ(idx[2], 4u);
  EXPECT_EQ(val[0], 0.5f);
  EXPECT_EQ(val[1], 0.3f);
  EXPECT_EQ(val[2], 0.2f);
}

TEST(ExplainTopK, TiesKeepLowerIndexFirst) {
  const std::vector<float> row = {0.0f, 0.25f, 0.25f, 0.5f, 0.25f, 0.0f};
  uint32_t idx[5];
  float val[5];
  TopKRow(row, 5, idx, val);
  const uint32_t want[5] = {3, 1, 2, 4, 0};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(idx[i], want[i]) << i;
}

TEST(ExplainTopK, KIsClampedAndZeroWritesNothing) {
  const std::vector<float> row = {2.0f, 1.0f};
  uint32_t idx[4] = {9, 9, 9, 9};
  float val[4] = {9, 9, 9, 9};
  TopKRow(row, 0, idx, val);
  EXPECT_EQ(idx[0], 9u);
  TopKRow(row, 4, idx, val);
  EXPECT_EQ(idx[0], 0u);
  EXPECT_EQ(idx[1], 1u);
  EXPECT_EQ(idx[2], 9u);  // beyond the row: untouched
  EXPECT_EQ(TopKIndices(std::span<const float>(row), -3).size(), 0u);
}

TEST(ExplainTopK, NaNRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> row = {nan, -5.0f, nan, 1.0f};
  const std::vector<uint32_t> idx = TopKIndices(std::span<const float>(row), 4);
  ASSERT_EQ(idx.size(), 4u);
  EXPECT_EQ(idx[0], 3u);
  EXPECT_EQ(idx[1], 1u);
  EXPECT_EQ(idx[2], 0u);
  EXPECT_EQ(idx[3], 2u);
}

TEST(ExplainTopK, AgreesWithFullSortOnARandomRow) {
  std::vector<float> row(300);
  uint32_t s = 12345;
  for (float& x : row) {  // coarse values so that ties are common
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 24) % 17);
  }
  std::vector<uint32_t> all(row.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  std::stable_sort(all.begin(), all.end(), [&](uint32_t a, uint32_t b) { return row[a] > row[b]; });
  std::vector<uint32_t> idx(40);
  std::vector<float> val(40);
  TopKRow(row, 40, idx.data(), val.data());
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(idx[i], all[i]) << i;
    EXPECT_EQ(val[i], row[all[i]]) << i;
  }
}

}  // namespace
}  // namespace infer::explain
