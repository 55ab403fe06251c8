#include "client/infer_client.h"

#include <future>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

namespace infer::client {
namespace {

constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

// The server echoes the id in its initial metadata; when a call fails before any response, gRPC
// may deliver that metadata with the trailers instead, so look there too.
std::string EchoedRequestId(const grpc::ClientContext& context) {
  for (const auto* metadata :
       {&context.GetServerInitialMetadata(), &context.GetServerTrailingMetadata()}) {
    auto it = metadata->find(kRequestIdKey);
    if (it != metadata->end()) return std::string(it->second.data(), it->second.size());
  }
  return "";
}

// The shared loop of both server-streaming RPCs.
template <typename Response, typename Reader>
grpc::Status Drain(Reader& reader, grpc::ClientContext& context,
                   const StreamCallback<Response>& on_response, CallInfo* info) {
  Response response;
  while (reader->Read(&response)) {
    if (on_response && !on_response(response)) {
      // Cancelling tells the server to stop work; Finish then reports CANCELLED.
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (info != nullptr) info->request_id = EchoedRequestId(context);
  return status;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

}  // namespace

grpc::ChannelArguments InferenceClient::DefaultChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // -1: unlimited
  return args;
}

InferenceClient::InferenceClient(const std::string& target, ClientOptions options)
    : InferenceClient(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                                DefaultChannelArguments()),
                      std::move(options)) {}

InferenceClient::InferenceClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::InferenceService::NewStub(channel_)),
      options_(std::move(options)) {}

void InferenceClient::Prepare(const CallOptions& call, grpc::ClientContext* context) const {
  const auto timeout = call.timeout.value_or(options_.timeout);
  if (timeout.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout);
  const std::string& request_id = call.request_id ? *call.request_id : options_.request_id;
  if (!request_id.empty()) context->AddMetadata(kRequestIdKey, request_id);
}

grpc::Status InferenceClient::Generate(const v1::GenerateRequest& request,
                                       const StreamCallback<v1::GenerateResponse>& on_response,
                                       const CallOptions& call, CallInfo* info) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  auto reader = stub_->Generate(&context, request);
  return Drain<v1::GenerateResponse>(reader, context, on_response, info);
}

grpc::Status InferenceClient::ExplainAttention(
    const v1::ExplainAttentionRequest& request,
    const StreamCallback<v1::ExplainAttentionResponse>& on_response, const CallOptions& call,
    CallInfo* info) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  auto reader = stub_->ExplainAttention(&context, request);
  return Drain<v1::ExplainAttentionResponse>(reader, context, on_response, info);
}

Result<v1::ClassifyResponse> InferenceClient::Classify(const v1::ClassifyRequest& request,
                                                       const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  Result<v1::ClassifyResponse> result;
  result.status = stub_->Classify(&context, request, &result.value);
  result.info.request_id = EchoedRequestId(context);
  return result;
}

Result<v1::EmbedResponse> InferenceClient::Embed(const v1::EmbedRequest& request,
                                                 const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  Result<v1::EmbedResponse> result;
  result.status = stub_->Embed(&context, request, &result.value);
  result.info.request_id = EchoedRequestId(context);
  return result;
}

Result<v1::TokenizeResponse> InferenceClient::Tokenize(const v1::TokenizeRequest& request,
                                                       const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  Result<v1::TokenizeResponse> result;
  result.status = stub_->Tokenize(&context, request, &result.value);
  result.info.request_id = EchoedRequestId(context);
  return result;
}

Result<v1::ListModelsResponse> InferenceClient::ListModels(const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  Result<v1::ListModelsResponse> result;
  result.status = stub_->ListModels(&context, v1::ListModelsRequest(), &result.value);
  result.info.request_id = EchoedRequestId(context);
  return result;
}

Result<HealthStatus> InferenceClient::Health(const std::string& service,
                                             const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, &context);
  const grpc::ByteBuffer request = ToByteBuffer(EncodeHealthCheckRequest(service));
  grpc::ByteBuffer response;
  // The generic stub only offers the callback form of a unary call; a promise makes it blocking
  // like the other methods.
  std::promise<grpc::Status> done;
  grpc::GenericStub generic(channel_);
  generic.UnaryCall(&context, kHealthCheckMethod, grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status status) { done.set_value(std::move(status)); });
  Result<HealthStatus> result;
  result.status = done.get_future().get();
  result.info.request_id = EchoedRequestId(context);
  if (result.ok()) {
    auto status = DecodeHealthCheckResponse(FromByteBuffer(response));
    if (status) {
      result.value = *status;
    } else {
      result.status = grpc::Status(grpc::StatusCode::INTERNAL,
                                   "malformed grpc.health.v1.HealthCheckResponse from the server");
    }
  }
  return result;
}

bool InferenceClient::WaitForReady(std::chrono::milliseconds timeout) const {
  return channel_->WaitForConnected(std::chrono::system_clock::now() + timeout);
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN_CODE";
  }
}

}  // namespace infer::client
