// A caching allocator for one device: a forward pass allocates the same activation shapes every
// step, and cudaMalloc/cudaFree are slow and synchronise the device, so freed blocks are kept in
// per-size free lists and handed out again. All users run on the backend's one stream, so a block
// freed after its last kernel was queued can be reused by later work on that stream without
// waiting (the PyTorch caching allocator's rule for a single stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace infer::kernels::cuda {

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // At least `bytes` bytes, 256-byte aligned. On failure the cache is released and the
  // allocation retried once; then DeviceOutOfMemory is thrown with the sizes.
  void* Allocate(size_t bytes);
  void Free(void* p);
  // cudaFree of every cached (unused) block.
  void ReleaseCached();

  int64_t in_use_bytes() const;
  int64_t cached_bytes() const;

  // Rounding: 512-byte granules below 1 MiB, 2 MiB granules above (fewer distinct sizes, so
  // decode steps of different batch sizes reuse each other's blocks).
  static size_t RoundSize(size_t bytes);

 private:
  void ReleaseCachedLocked();

  const int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;          // size -> block
  std::unordered_map<void*, size_t> in_use_;  // block -> size
  int64_t in_use_bytes_ = 0;
  int64_t cached_bytes_ = 0;
};

}  // namespace infer::kernels::cuda
