#include "kernels/cuda/device_allocator.h"

#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_check.h"

namespace infer::kernels::cuda {

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  cudaSetDevice(device_);
  ReleaseCachedLocked();
  // Blocks still in use belong to tensors that outlive the backend (a bug elsewhere); leaving
  // them allocated is safer than freeing memory a kernel may still read.
}

size_t DeviceAllocator::RoundSize(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{2} << 20, kSmallLimit = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < kSmallLimit) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void* DeviceAllocator::Allocate(size_t bytes) {
  const size_t size = RoundSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  // Best fit among cached blocks, accepting at most 25% waste on large blocks so that a huge
  // cached block is not pinned by a small request.
  auto it = free_.lower_bound(size);
  if (it != free_.end() && (it->first == size || it->first <= size + size / 4)) {
    void* p = it->second;
    const size_t got = it->first;
    free_.erase(it);
    cached_bytes_ -= static_cast<int64_t>(got);
    in_use_.emplace(p, got);
    in_use_bytes_ += static_cast<int64_t>(got);
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    ReleaseCachedLocked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    const auto mib = [](double b) { return std::to_string(static_cast<int64_t>(b / 1048576.0)); };
    throw DeviceOutOfMemory("CUDA out of memory on device " + std::to_string(device_) +
                            ": asked for " + mib(size) + " MiB; " + mib(free_b) + " MiB free of " +
                            mib(total_b) + " MiB; this backend holds " + mib(in_use_bytes_) +
                            " MiB in use (" + cudaGetErrorString(err) + ")");
  }
  in_use_.emplace(p, size);
  in_use_bytes_ += static_cast<int64_t>(size);
  return p;
}

void DeviceAllocator::Free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  if (it == in_use_.end()) return;
  free_.emplace(it->second, p);
  cached_bytes_ += static_cast<int64_t>(it->second);
  in_use_bytes_ -= static_cast<int64_t>(it->second);
  in_use_.erase(it);
}

void DeviceAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseCachedLocked();
}

void DeviceAllocator::ReleaseCachedLocked() {
  // cudaFree waits for the device, so queued kernels finish before their memory goes back.
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
  cached_bytes_ = 0;
}

int64_t DeviceAllocator::in_use_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_bytes_;
}

int64_t DeviceAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_bytes_;
}

}  // namespace infer::kernels::cuda
