// The paged KV cache: one pool of fixed-size blocks per layer for keys and values, a block table
// per sequence, reference counts so forks (beams, contrastive candidates, shared prefixes) share
// blocks until one of them writes (copy-on-write of the partly filled last block).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"

namespace infer::runtime {

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);
  // RESOURCE_EXHAUSTED when no block is free.
  absl::Status Allocate(int32_t* block);
  void Ref(int32_t block);
  void Unref(int32_t block);  // returns the block to the pool when its count reaches zero
  int ref_count(int32_t block) const { return refs_[block]; }
  int num_blocks() const { return static_cast<int>(refs_.size()); }
  int num_free() const { return static_cast<int>(free_.size()); }

 private:
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;  // a stack: recently freed blocks are reused first
};

struct KvSequence {
  std::vector<int32_t> blocks;  // block table
  int length = 0;               // tokens stored
};

struct KvCacheShape {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;
  int num_blocks = 0;
};

class PagedKvCache {
 public:
  PagedKvCache(kernels::Backend* backend, const KvCacheShape& shape);

  // Bytes one block takes over all layers, keys and values; used to size the pool from a budget.
  static int64_t BlockBytes(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  kernels::Tensor& keys(int layer) { return k_[layer]; }      // [num_blocks, block, kv_heads, d]
  kernels::Tensor& values(int layer) { return v_[layer]; }    // [num_blocks, block, kv_heads, d]
  BlockAllocator& allocator() { return alloc_; }
  const BlockAllocator& allocator() const { return alloc_; }

  // Makes room for n more tokens and returns their slots (block * block_size + offset). A shared,
  // partly filled last block is copied first. On failure the sequence is left unchanged.
  absl::Status Append(KvSequence& seq, int n, std::vector<int32_t>* slots);
  // dst shares every block of src.
  void Fork(const KvSequence& src, KvSequence* dst);
  // Shortens the sequence to `length` tokens, returning blocks it no longer needs (rollback of a
  // failed step).
  void Truncate(KvSequence& seq, int length);
  // Drops the sequence's references; its blocks return to the pool when unshared.
  void Free(KvSequence& seq);

 private:
  void CopyBlock(int32_t src, int32_t dst);

  kernels::Backend* backend_;
  KvCacheShape shape_;
  BlockAllocator alloc_;
  std::vector<kernels::Tensor> k_, v_;
};

}  // namespace infer::runtime
