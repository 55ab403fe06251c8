// The KV cache's block pool: reference counts (forks and shared prefixes hold the same block),
// a free list, and the prefix cache: full blocks registered under a hash of their content and of
// everything before them, so a later sequence with the same prefix attaches them instead of
// recomputing (vLLM's automatic prefix caching). A cached block whose count drops to zero stays
// findable on an LRU list and is only reclaimed, oldest first, when no free block is left.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace infer::runtime {

// The cache key of a full block: the key of the block before it (0 for the first) chained with
// its tokens. Lookups also compare the tokens and the parent key, so a false hit needs a 64-bit
// collision between two different prefixes' parent keys.
uint64_t BlockKey(uint64_t parent, std::span<const int32_t> tokens);

class BlockAllocator {
 public:
  BlockAllocator(int num_blocks, int block_size);

  // A free block, else the least recently used unreferenced cached block (dropped from the cache).
  // RESOURCE_EXHAUSTED when every block is referenced.
  absl::Status Allocate(int32_t* block);
  void Ref(int32_t block);
  // At zero a cached block goes to the LRU list (still findable); any other block is freed.
  void Unref(int32_t block);

  int ref_count(int32_t block) const { return refs_[block]; }
  int num_blocks() const { return static_cast<int>(refs_.size()); }
  // Blocks Allocate can hand out: free ones and unreferenced cached ones.
  int num_free() const { return static_cast<int>(free_.size() + lru_.size()); }
  // Blocks some sequence references.
  int num_used() const { return num_blocks() - num_free(); }
  int num_cached() const { return static_cast<int>(by_key_.size()); }

  // The cached block with this key, parent key and tokens, referenced for the caller; nullopt when
  // none.
  std::optional<int32_t> Find(uint64_t key, uint64_t parent, std::span<const int32_t> tokens);
  // Makes a full, referenced block findable. Its contents must never change while cached. A key
  // that is already cached (the same prefix computed twice) leaves the cache as it is.
  void Register(int32_t block, uint64_t key, uint64_t parent, std::span<const int32_t> tokens);
  // Forgets every cached block (prefix caching switched off, tests).
  void ClearCache();

 private:
  void Uncache(int32_t block);

  struct CacheEntry {
    bool cached = false;
    uint64_t key = 0, parent = 0;
    std::list<int32_t>::iterator lru;  // valid while the block is cached and unreferenced
    bool on_lru = false;
  };

  int block_size_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;  // a stack: recently freed blocks are reused first
  std::vector<CacheEntry> entries_;
  std::vector<int32_t> tokens_;  // [num_blocks, block_size] contents of cached blocks
  std::list<int32_t> lru_;       // unreferenced cached blocks, least recently used first
  absl::flat_hash_map<uint64_t, int32_t> by_key_;
};

}  // namespace infer::runtime
