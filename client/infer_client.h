// C++ client of infer.v1.InferenceService (proto/infer/v1/inference_service.proto).
//
// One InferenceClient wraps one channel and is safe to use from several threads at once: every
// call builds its own grpc::ClientContext. Unary RPCs return a Result (status + response);
// streaming RPCs hand each message to a callback and return the final status.
//
//   infer::client::InferenceClient client("localhost:50051",
//                                         {.timeout = std::chrono::seconds(30)});
//   infer::v1::GenerateRequest request;
//   request.set_prompt("Hello");
//   grpc::Status status = client.Generate(request, [](const infer::v1::GenerateResponse& r) {
//     std::cout << r.text() << std::flush;
//     return true;  // false cancels the call
//   });
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "client/health_codec.h"
#include "infer/v1/inference_service.grpc.pb.h"

namespace infer::client {

// The metadata key the service reads and echoes (see inference_service.proto).
inline constexpr char kRequestIdKey[] = "x-request-id";

// Defaults for every call of one client.
struct ClientOptions {
  // Per-call deadline, measured from the start of each call. Zero or negative: no deadline.
  std::chrono::milliseconds timeout{0};
  // Sent as `x-request-id` on every call. Empty: none sent (the server makes one up).
  std::string request_id;
};

// Overrides of ClientOptions for one call.
struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::string> request_id;
};

// What the server said about a call besides the response.
struct CallInfo {
  // The `x-request-id` the server echoed in its initial metadata ("" if it sent none, e.g. when
  // the call failed before the server saw it).
  std::string request_id;
};

// A unary call's outcome: `value` is meaningful only when status.ok().
template <typename T>
struct Result {
  grpc::Status status;
  T value{};
  CallInfo info;

  bool ok() const { return status.ok(); }
};

// Streaming callbacks return false to stop early: the client cancels the call and the returned
// status is CANCELLED.
template <typename T>
using StreamCallback = std::function<bool(const T&)>;

class InferenceClient {
 public:
  // An insecure channel to "host:port" (any gRPC target string: "dns:///...", "unix:...").
  // Attention replies grow as layers x heads x tokens^2, so the channel takes messages of any
  // size instead of gRPC's 4 MiB default.
  explicit InferenceClient(const std::string& target, ClientOptions options = {});
  // Any channel the caller built (TLS credentials, interceptors, in-process channels).
  explicit InferenceClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  // The channel argument the target constructor uses, for callers building their own channel.
  static grpc::ChannelArguments DefaultChannelArguments();

  grpc::Status Generate(const v1::GenerateRequest& request,
                        const StreamCallback<v1::GenerateResponse>& on_response,
                        const CallOptions& call = {}, CallInfo* info = nullptr) const;
  Result<v1::ClassifyResponse> Classify(const v1::ClassifyRequest& request,
                                        const CallOptions& call = {}) const;
  Result<v1::EmbedResponse> Embed(const v1::EmbedRequest& request,
                                  const CallOptions& call = {}) const;
  grpc::Status ExplainAttention(const v1::ExplainAttentionRequest& request,
                                const StreamCallback<v1::ExplainAttentionResponse>& on_response,
                                const CallOptions& call = {}, CallInfo* info = nullptr) const;
  Result<v1::TokenizeResponse> Tokenize(const v1::TokenizeRequest& request,
                                        const CallOptions& call = {}) const;
  Result<v1::ListModelsResponse> ListModels(const CallOptions& call = {}) const;

  // grpc.health.v1.Health/Check. "" asks about the whole server; a service name such as
  // "infer.v1.InferenceService" asks about that service (NOT_FOUND when the server does not
  // know it).
  Result<HealthStatus> Health(const std::string& service = "", const CallOptions& call = {}) const;

  // Blocks until the channel is connected (it tries to connect if idle) or `timeout` passes.
  // True when connected. A connected server may still be loading models: Health() says when it
  // serves.
  bool WaitForReady(std::chrono::milliseconds timeout) const;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  // Applies deadline and request id to a fresh context.
  void Prepare(const CallOptions& call, grpc::ClientContext* context) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;
  ClientOptions options_;
};

// "INVALID_ARGUMENT", "NOT_FOUND", ...: the canonical name of a gRPC status code.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace infer::client
