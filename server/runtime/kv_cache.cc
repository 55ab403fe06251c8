#include "server/runtime/kv_cache.h"

#include <algorithm>
#include <cassert>

#include "absl/strings/str_cat.h"

namespace infer::runtime {

PagedKvCache::PagedKvCache(kernels::Backend* backend, const KvCacheShape& shape)
    : backend_(backend), shape_(shape), alloc_(shape.num_blocks, shape.block_size) {
  for (int l = 0; l < shape.num_layers; ++l) {
    std::vector<int64_t> dims = {shape.num_blocks, shape.block_size, shape.num_kv_heads,
                                 shape.head_dim};
    // Zeros, not Alloc: on the CPU this faults the whole pool in at load time (the memory the
    // operator gave it with --kv-cache-mib), instead of a page fault per 4 KiB of K/V written
    // while requests are decoding (6% of a 16-stream run's time, benchmarks/RESULTS.md).
    k_.push_back(backend->Zeros(dims, backend->ActivationDType()));
    v_.push_back(backend->Zeros(dims, backend->ActivationDType()));
  }
}

int64_t PagedKvCache::BlockBytes(const KvCacheShape& s) {
  return int64_t{2} * s.num_layers * s.block_size * s.num_kv_heads * s.head_dim * s.elem_bytes;
}

void PagedKvCache::CopyBlock(int32_t src, int32_t dst) {
  for (int l = 0; l < shape_.num_layers; ++l) {
    kernels::Tensor ks = k_[l].Rows(src, src + 1), kd = k_[l].Rows(dst, dst + 1);
    kernels::Tensor vs = v_[l].Rows(src, src + 1), vd = v_[l].Rows(dst, dst + 1);
    backend_->Copy(ks, kd);
    backend_->Copy(vs, vd);
  }
}

int PagedKvCache::BlocksNeeded(const KvSequence& seq, int n) const {
  const int bs = shape_.block_size;
  const int blocks_needed = (seq.length + n + bs - 1) / bs;
  const bool cow = n > 0 && seq.length % bs != 0 && alloc_.ref_count(seq.blocks.back()) > 1;
  return std::max(0, blocks_needed - static_cast<int>(seq.blocks.size())) + (cow ? 1 : 0);
}

absl::Status PagedKvCache::Append(KvSequence& seq, int n, std::vector<int32_t>* slots) {
  const int bs = shape_.block_size;
  const int new_len = seq.length + n;
  const int blocks_needed = (new_len + bs - 1) / bs;
  const bool partial_last = seq.length % bs != 0;
  const bool cow = n > 0 && partial_last && alloc_.ref_count(seq.blocks.back()) > 1;
  const int fresh = blocks_needed - static_cast<int>(seq.blocks.size()) + (cow ? 1 : 0);
  if (fresh > alloc_.num_free()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache is full: ", fresh, " blocks needed, ", alloc_.num_free(), " free of ",
        alloc_.num_blocks()));
  }
  if (cow) {
    int32_t copy;
    absl::Status st = alloc_.Allocate(&copy);
    if (!st.ok()) return st;
    CopyBlock(seq.blocks.back(), copy);
    alloc_.Unref(seq.blocks.back());
    seq.blocks.back() = copy;
  }
  while (static_cast<int>(seq.blocks.size()) < blocks_needed) {
    int32_t b;
    absl::Status st = alloc_.Allocate(&b);
    if (!st.ok()) return st;  // unreachable: counted above
    seq.blocks.push_back(b);
  }
  slots->clear();
  for (int pos = seq.length; pos < new_len; ++pos) {
    slots->push_back(seq.blocks[pos / bs] * bs + pos % bs);
  }
  seq.length = new_len;
  return absl::OkStatus();
}

void PagedKvCache::Fork(const KvSequence& src, KvSequence* dst) {
  *dst = src;
  for (int32_t b : dst->blocks) alloc_.Ref(b);
}

void PagedKvCache::Truncate(KvSequence& seq, int length) {
  const size_t keep = (length + shape_.block_size - 1) / shape_.block_size;
  while (seq.blocks.size() > keep) {
    alloc_.Unref(seq.blocks.back());
    seq.blocks.pop_back();
  }
  seq.length = length;
}

void PagedKvCache::Free(KvSequence& seq) {
  for (int32_t b : seq.blocks) alloc_.Unref(b);
  seq.blocks.clear();
  seq.length = 0;
}

}  // namespace infer::runtime
