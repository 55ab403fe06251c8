#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

// Plain threads, not OpenMP: an OpenMP region run from the loading thread gives that thread its
// own OpenMP pool for the life of the process, and libgomp then counts more managed threads than
// CPUs and cuts every pool's spin-wait to 1000 iterations, so each of the ~100 parallel regions of
// a decode step waits on a futex wake-up: batch-1 decoding was 20% slower over gRPC with the pool
// zeroed by an OpenMP loop (benchmarks/RESULTS.md).
void ZeroFill(void* p, size_t bytes) {
  constexpr size_t kPerThread = size_t{64} << 20;  // below this one thread is as fast
  char* base = static_cast<char*>(p);
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts = std::min(hw, std::max<size_t>(1, bytes / kPerThread));
  const size_t share = (bytes / parts + 4095) / 4096 * 4096;
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < parts; ++i) {
    const size_t off = std::min(bytes, i * share), len = std::min(share, bytes - off);
    helpers.emplace_back([=] { std::memset(base + off, 0, len); });
  }
  std::memset(base, 0, std::min(share, bytes));
  for (std::thread& t : helpers) t.join();
}

}  // namespace infer::kernels::cpu
