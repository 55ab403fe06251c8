// One thread runs the compute of every model served on the CPU backend.
//
// Why: libgomp gives each thread that opens an OpenMP parallel region its own pool of worker
// threads for as long as that thread lives, and once the process holds more OpenMP threads than
// CPUs it cuts every pool's spin-wait from 300000 to 1000 iterations. A decode step opens ~100
// parallel regions; throttled, each one waits for a futex wake-up. Two models on the CPU (each
// with its own worker thread: a scheduler or a batcher) crossed that line on any machine, and
// batch-1 decoding over gRPC got ~20% slower (benchmarks/RESULTS.md). Their compute now runs here,
// on one thread with one pool, which also keeps two CPU models from oversubscribing the cores by
// computing at the same time. GPU models keep their own worker threads.
#pragma once

#include <functional>

#include "absl/status/status.h"

namespace infer::runtime {

// Runs fn on the shared CPU compute thread (started on first use) and returns its status; the
// caller blocks meanwhile. Called on that thread (fn calling back in), runs fn inline. What fn
// throws is rethrown to the caller. Callers are served in arrival order.
absl::Status RunOnCpuComputeThread(const std::function<absl::Status()>& fn);

// RunOnCpuComputeThread(fn) when `shared` (the worker's model is on the CPU), else fn() here.
inline absl::Status RunCompute(bool shared, const std::function<absl::Status()>& fn) {
  return shared ? RunOnCpuComputeThread(fn) : fn();
}

// Whether the calling thread is the shared CPU compute thread (for tests).
bool OnCpuComputeThread();

}  // namespace infer::runtime
