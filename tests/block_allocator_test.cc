// The KV block pool's prefix cache: lookups by content and parent, LRU reclaim of unreferenced
// cached blocks only when no free block is left, and counts that always add up.
#include <gtest/gtest.h>

#include "server/runtime/block_allocator.h"

namespace infer::runtime {
namespace {

TEST(BlockAllocator, CachedBlocksStayFindableUntilReclaimedOldestFirst) {
  BlockAllocator a(3, 2);
  int32_t b0, b1, b2;
  ASSERT_TRUE(a.Allocate(&b0).ok());
  ASSERT_TRUE(a.Allocate(&b1).ok());
  const std::vector<int32_t> t0 = {1, 2}, t1 = {3, 4};
  const uint64_t k0 = BlockKey(0, t0), k1 = BlockKey(k0, t1);
  a.Register(b0, k0, 0, t0);
  a.Register(b1, k1, k0, t1);
  a.Unref(b0);
  a.Unref(b1);
  EXPECT_EQ(a.num_free(), 3);  // reclaimable counts as free
  EXPECT_EQ(a.num_used(), 0);
  EXPECT_EQ(a.num_cached(), 2);
  // A hit takes the block back without computing.
  auto hit = a.Find(k0, 0, t0);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, b0);
  EXPECT_EQ(a.ref_count(b0), 1);
  EXPECT_EQ(a.num_used(), 1);
  // Same key but other tokens or another parent: no hit.
  EXPECT_FALSE(a.Find(k1, 0, t1));
  EXPECT_FALSE(a.Find(k1, k0, t0));
  a.Unref(b0);
  // Free blocks go first, then the least recently used cached one (b1 was unreferenced before b0).
  ASSERT_TRUE(a.Allocate(&b2).ok());
  EXPECT_NE(b2, b0);
  EXPECT_NE(b2, b1);
  int32_t b3;
  ASSERT_TRUE(a.Allocate(&b3).ok());
  EXPECT_EQ(b3, b1);
  EXPECT_FALSE(a.Find(k1, k0, t1));
  EXPECT_TRUE(a.Find(k0, 0, t0));
  int32_t none;
  EXPECT_EQ(a.Allocate(&none).code(), absl::StatusCode::kResourceExhausted);
}

TEST(BlockAllocator, DuplicateRegistrationAndClear) {
  BlockAllocator a(2, 1);
  int32_t x, y;
  ASSERT_TRUE(a.Allocate(&x).ok());
  ASSERT_TRUE(a.Allocate(&y).ok());
  const std::vector<int32_t> t = {9};
  const uint64_t k = BlockKey(0, t);
  a.Register(x, k, 0, t);
  a.Register(y, k, 0, t);  // the same prefix computed twice: the first stays cached
  EXPECT_EQ(a.num_cached(), 1);
  a.Unref(y);
  EXPECT_EQ(a.num_free(), 1);
  a.Unref(x);
  a.ClearCache();
  EXPECT_EQ(a.num_cached(), 0);
  EXPECT_EQ(a.num_free(), 2);
  EXPECT_FALSE(a.Find(k, 0, t));
}

}  // namespace
}  // namespace infer::runtime
