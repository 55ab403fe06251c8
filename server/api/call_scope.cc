#include "server/api/call_scope.h"

namespace infer::api {

absl::Status CallScope::EndedStatus() const {
  if (ctx != nullptr && ctx->deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("the call's deadline passed");
  }
  return absl::CancelledError("the client cancelled the call or went away");
}

}  // namespace infer::api
