#include "server/runtime/block_allocator.h"

#include <algorithm>
#include <cassert>

#include "absl/strings/str_cat.h"

namespace infer::runtime {

uint64_t BlockKey(uint64_t parent, std::span<const int32_t> tokens) {
  // FNV-1a over the parent key and the token ids, then a final avalanche (splitmix64) so that
  // nearby prefixes spread over the hash map.
  uint64_t h = 1469598103934665603ull ^ parent;
  h *= 1099511628211ull;
  for (int32_t t : tokens) {
    uint32_t u = static_cast<uint32_t>(t);
    for (int i = 0; i < 4; ++i) {
      h ^= (u >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h == 0 ? 1 : h;  // 0 means "no parent"
}

BlockAllocator::BlockAllocator(int num_blocks, int block_size)
    : block_size_(block_size),
      refs_(num_blocks, 0),
      entries_(num_blocks),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

absl::Status BlockAllocator::Allocate(int32_t* block) {
  if (!free_.empty()) {
    *block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    *block = lru_.front();
    Uncache(*block);  // also takes it off the LRU list
  } else {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache is full: all ", refs_.size(), " blocks are in use"));
  }
  refs_[*block] = 1;
  return absl::OkStatus();
}

void BlockAllocator::Ref(int32_t block) {
  CacheEntry& e = entries_[block];
  if (refs_[block] == 0) {
    // Only cached blocks are referenced from zero (Find); take it off the LRU list.
    assert(e.cached && e.on_lru);
    lru_.erase(e.lru);
    e.on_lru = false;
  }
  ++refs_[block];
}

void BlockAllocator::Unref(int32_t block) {
  assert(refs_[block] > 0);
  if (--refs_[block] > 0) return;
  CacheEntry& e = entries_[block];
  if (e.cached) {
    e.lru = lru_.insert(lru_.end(), block);
    e.on_lru = true;
  } else {
    free_.push_back(block);
  }
}

void BlockAllocator::Uncache(int32_t block) {
  CacheEntry& e = entries_[block];
  if (!e.cached) return;
  if (e.on_lru) lru_.erase(e.lru);
  by_key_.erase(e.key);
  e = CacheEntry{};
}

std::optional<int32_t> BlockAllocator::Find(uint64_t key, uint64_t parent,
                                            std::span<const int32_t> tokens) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  const int32_t b = it->second;
  const CacheEntry& e = entries_[b];
  const int32_t* stored = tokens_.data() + static_cast<size_t>(b) * block_size_;
  if (e.parent != parent || tokens.size() != static_cast<size_t>(block_size_) ||
      !std::equal(tokens.begin(), tokens.end(), stored)) {
    return std::nullopt;
  }
  Ref(b);
  return b;
}

void BlockAllocator::Register(int32_t block, uint64_t key, uint64_t parent,
                              std::span<const int32_t> tokens) {
  assert(refs_[block] > 0 && tokens.size() == static_cast<size_t>(block_size_));
  if (entries_[block].cached || by_key_.contains(key)) return;
  CacheEntry& e = entries_[block];
  e.cached = true;
  e.key = key;
  e.parent = parent;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<size_t>(block) * block_size_);
  by_key_.emplace(key, block);
}

void BlockAllocator::ClearCache() {
  while (!lru_.empty()) {
    int32_t b = lru_.front();
    Uncache(b);
    free_.push_back(b);
  }
  for (size_t b = 0; b < entries_.size(); ++b) {
    if (entries_[b].cached) Uncache(static_cast<int32_t>(b));
  }
}

}  // namespace infer::runtime
