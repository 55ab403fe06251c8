// What a model worker (the generation scheduler or the encoder batcher) reports as it runs. The
// service implements it with Prometheus metrics labelled by model; the runtime knows nothing of
// Prometheus. Called from the worker's thread and, for rejections, from callers' threads, so an
// implementation must be thread-safe. Every method defaults to doing nothing.
#pragma once

#include <cstdint>
#include <string_view>

namespace infer::runtime {

class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  // Requests waiting for admission and requests running (holding KV blocks or in a batch).
  virtual void SetQueue(int waiting, int running) {}
  // KV blocks referenced by some sequence, and the pool's size (causal models only).
  virtual void SetKvBlocks(int used, int total) {}
  // Full blocks looked up in the prefix cache and how many were found.
  virtual void AddPrefixCache(int64_t queries, int64_t hits) {}
  virtual void AddPreemptions(int n) {}
  // One model step (or encoder forward): sequences in it and tokens it computed.
  virtual void ObserveStep(int sequences, int tokens) {}
  // From arrival to the first model step that included the request.
  virtual void ObserveQueueTime(double seconds) {}
  // A request refused before it ran. reason: "queue_requests", "queue_tokens", "shutting_down".
  virtual void AddRejected(std::string_view reason) {}
};

// The observer to use when none is given.
inline SchedulerObserver* NullObserver() {
  static SchedulerObserver none;
  return &none;
}

}  // namespace infer::runtime
