// The channel between a Generate request's caller (the gRPC handler thread) and the scheduler's
// worker thread: the worker pushes token events and, last, the outcome; the caller pops them at
// its own pace. Because the worker never waits on the caller, a slow or stalled reader cannot hold
// up anyone else's step; what it has not read yet stays here (bounded by the request's token
// limit). The caller cancels through it; the worker drops the request at its next step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/decoding_types.h"

namespace infer::runtime {

struct StreamEvent {
  std::chrono::steady_clock::time_point at;  // when the worker produced it
  std::optional<TokenEvent> token;           // a chosen token, or
  std::optional<absl::StatusOr<GenerationResult>> outcome;  // the end (always the last event)
};

class GenerationStream {
 public:
  // Caller side: moves available events into *out, waiting up to `timeout` for the first one.
  // Returns false when nothing arrived in time.
  bool Next(std::vector<StreamEvent>* out, std::chrono::milliseconds timeout);
  // Caller side: the client is gone; the worker stops the request at its next step.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  bool done() const;

  // Worker side.
  void PushToken(const TokenEvent& ev);
  void Finish(absl::StatusOr<GenerationResult> outcome);  // once; later calls are ignored

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
};

}  // namespace infer::runtime
