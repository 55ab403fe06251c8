// The bound on work that waits for a model: a request over it is refused at once with
// RESOURCE_EXHAUSTED (never queued without bound, never left hanging).
#pragma once

#include <cstdint>

namespace infer::runtime {

struct QueueLimits {
  int max_waiting_requests = 256;          // requests admitted but not yet running
  int64_t max_waiting_tokens = 1 << 20;    // their prompt (or input) tokens together
};

}  // namespace infer::runtime
