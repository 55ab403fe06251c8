// The paged KV cache: one pool of fixed-size blocks per layer for keys and values, a block table
// per sequence, reference counts so forks (beams, contrastive candidates, shared prefixes) share
// blocks until one of them writes (copy-on-write of the partly filled last block).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "server/runtime/block_allocator.h"

namespace infer::runtime {

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
  int elem_bytes = 4;  // of the backend's ActivationDType (2 for bf16/fp16 on CUDA)
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
  // Blocks Append(seq, n) would take from the pool (new blocks plus a copy-on-write copy).
  int BlocksNeeded(const KvSequence& seq, int n) const;
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
