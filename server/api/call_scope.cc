#include "server/api/call_scope.h"

namespace infer::api {

absl::Status CallScope::EndedStatus() const {
  if (ctx != nullptr && ctx->deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("the call's deadline passed");
  }
  return absl::CancelledError("the client cancelled the call or went away");
}

}  // namespace infer::api

namespace infer::api {

runtime::RequestLifetime CallScope::Lifetime() const {
  runtime::RequestLifetime life;
  if (ctx == nullptr) return life;
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    // gRPC reports the deadline on the system clock; the workers compare on the steady clock.
    const auto left = deadline - std::chrono::system_clock::now();
    const auto horizon = std::chrono::hours(24 * 365);
    if (left < horizon) {
      life.deadline = std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
    }
  }
  grpc::ServerContext* c = ctx;
  life.cancelled = [c] { return c->IsCancelled(); };
  return life;
}

}  // namespace infer::api
