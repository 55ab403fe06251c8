// What a handler knows about the call it serves besides the request: its id for the logs, the
// context (cancellation, deadline), where to count tokens, and the fields it wants logged.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "nlohmann/json.hpp"
#include "server/runtime/request_lifetime.h"
#include "server/service/service_metrics.h"

namespace infer::api {

struct CallScope {
  grpc::ServerContext* ctx = nullptr;
  std::string request_id;
  std::string model;  // the resolved model name, once known
  service::ServiceMetrics* metrics = nullptr;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  nlohmann::json log_fields = nlohmann::json::object();  // added to the call's log line

  // True once the client cancelled, disconnected or ran past its deadline.
  bool Ended() const { return ctx != nullptr && ctx->IsCancelled(); }
  // The status a call ended by the client gets: DEADLINE_EXCEEDED when its deadline has passed,
  // else CANCELLED.
  absl::Status EndedStatus() const;
  // The call's deadline (on the steady clock) and cancellation, for the model workers.
  runtime::RequestLifetime Lifetime() const;
};

}  // namespace infer::api
