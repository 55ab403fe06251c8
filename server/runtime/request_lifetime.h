// How long a piece of work may wait and run: the client's deadline and a probe that says whether
// the client has gone (cancelled the call or disconnected). Workers (the generation scheduler, the
// encoder batcher) check both in the queue and between model steps, so an abandoned request stops
// costing anything at the next step and its KV blocks return to the pool.
#pragma once

#include <chrono>
#include <functional>

#include "absl/status/status.h"

namespace infer::runtime {

struct RequestLifetime {
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::time_point::max();
  // Thread-safe; may be called from any thread. Empty: never cancelled.
  std::function<bool()> cancelled;

  bool Expired(Clock::time_point now = Clock::now()) const { return now >= deadline; }
  bool Cancelled() const { return cancelled && cancelled(); }
  // OK while the work may go on; DEADLINE_EXCEEDED past the deadline, CANCELLED when the client
  // has gone.
  absl::Status Check(Clock::time_point now = Clock::now()) const {
    if (Cancelled()) return absl::CancelledError("the client cancelled the request");
    if (Expired(now)) return absl::DeadlineExceededError("the request's deadline passed");
    return absl::OkStatus();
  }
};

}  // namespace infer::runtime
