#include "server/api/inference_service.h"

#include <exception>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/api/classify_handler.h"
#include "server/api/embed_handler.h"
#include "server/api/explain_handler.h"
#include "server/api/generate_handler.h"
#include "server/api/status_mapping.h"
#include "server/api/tokenize_handler.h"

namespace infer::api {
namespace {

// The client's x-request-id when it is a sane token, else a fresh random one.
std::string RequestId(const grpc::ServerContext& ctx) {
  auto it = ctx.client_metadata().find("x-request-id");
  if (it != ctx.client_metadata().end()) {
    std::string id(it->second.data(), it->second.size());
    bool ok = !id.empty() && id.size() <= 128;
    for (char c : id) ok = ok && c > 0x20 && c < 0x7f;
    if (ok) return id;
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
}

}  // namespace

void InferenceServiceImpl::SetModels(std::unique_ptr<service::ModelSet> models) {
  owned_models_ = std::move(models);
  models_.store(owned_models_.get());
}

grpc::Status InferenceServiceImpl::Serve(grpc::ServerContext* ctx, const char* rpc,
                                         const Handler& handler) {
  CallScope call;
  call.ctx = ctx;
  call.metrics = &metrics_;
  call.request_id = RequestId(*ctx);
  ctx->AddInitialMetadata("x-request-id", call.request_id);
  service::ServiceMetrics::InFlight in_flight(metrics_.InFlightGauge(rpc));

  absl::Status status;
  const service::ModelSet* models = models_.load();
  if (draining_.load()) {
    status = absl::UnavailableError("the server is shutting down");
  } else if (models == nullptr) {
    status = absl::UnavailableError("the server is still loading its models");
  } else {
    try {
      status = handler(*models, call);
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("internal error: ", e.what()));
    }
  }
  if (!status.ok() && call.Ended() && status.code() != absl::StatusCode::kDeadlineExceeded) {
    status = call.EndedStatus();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - call.start).count();
  // "OK", "INVALID_ARGUMENT", ...: the label value metrics and logs use.
  const std::string code = absl::StatusCodeToString(status.code());
  metrics_.RecordRequest(rpc, call.model, code, seconds);

  nlohmann::json fields = call.log_fields;
  fields["request_id"] = call.request_id;
  fields["rpc"] = rpc;
  fields["model"] = call.model;
  fields["code"] = code;
  fields["ms"] = seconds * 1000.0;
  fields["peer"] = ctx->peer();
  if (!status.ok()) fields["message"] = std::string(status.message());
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    log_.Error("request", fields);
  } else if (status.code() == absl::StatusCode::kCancelled) {
    log_.Warn("request", fields);
  } else {
    log_.Info("request", fields);
  }
  return ToGrpcStatus(status);
}

grpc::Status InferenceServiceImpl::Generate(
    grpc::ServerContext* ctx, const infer::v1::GenerateRequest* request,
    grpc::ServerWriter<infer::v1::GenerateResponse>* writer) {
  return Serve(ctx, "Generate", [&](const service::ModelSet& m, CallScope& call) {
    return HandleGenerate(*request, writer, m, limits_, call);
  });
}

grpc::Status InferenceServiceImpl::Classify(grpc::ServerContext* ctx,
                                            const infer::v1::ClassifyRequest* request,
                                            infer::v1::ClassifyResponse* response) {
  return Serve(ctx, "Classify", [&](const service::ModelSet& m, CallScope& call) {
    return HandleClassify(*request, response, m, limits_, call);
  });
}

grpc::Status InferenceServiceImpl::Embed(grpc::ServerContext* ctx,
                                         const infer::v1::EmbedRequest* request,
                                         infer::v1::EmbedResponse* response) {
  return Serve(ctx, "Embed", [&](const service::ModelSet& m, CallScope& call) {
    return HandleEmbed(*request, response, m, limits_, call);
  });
}

grpc::Status InferenceServiceImpl::ExplainAttention(
    grpc::ServerContext* ctx, const infer::v1::ExplainAttentionRequest* request,
    grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer) {
  return Serve(ctx, "ExplainAttention", [&](const service::ModelSet& m, CallScope& call) {
    return HandleExplainAttention(*request, writer, m, limits_, call);
  });
}

grpc::Status InferenceServiceImpl::Tokenize(grpc::ServerContext* ctx,
                                            const infer::v1::TokenizeRequest* request,
                                            infer::v1::TokenizeResponse* response) {
  return Serve(ctx, "Tokenize", [&](const service::ModelSet& m, CallScope& call) {
    return HandleTokenize(*request, response, m, limits_, call);
  });
}

grpc::Status InferenceServiceImpl::ListModels(grpc::ServerContext* ctx,
                                              const infer::v1::ListModelsRequest* request,
                                              infer::v1::ListModelsResponse* response) {
  return Serve(ctx, "ListModels", [&](const service::ModelSet& m, CallScope&) {
    return HandleListModels(*request, response, m);
  });
}

}  // namespace infer::api
