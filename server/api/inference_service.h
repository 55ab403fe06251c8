// The infer.v1.InferenceService implementation: every RPC goes through Serve(), which gives the
// call a request id, refuses it while models load or the server drains, runs the handler, maps
// its absl::Status to a gRPC status, and records the call in the metrics and the log.
#pragma once

#include <atomic>
#include <memory>

#include "infer/v1/inference_service.grpc.pb.h"
#include "server/api/call_scope.h"
#include "server/service/logger.h"
#include "server/service/model_set.h"
#include "server/service/service_metrics.h"

namespace infer::api {

class InferenceServiceImpl final : public infer::v1::InferenceService::Service {
 public:
  InferenceServiceImpl(const service::ServiceLimits& limits, service::ServiceMetrics& metrics,
                       service::Logger& log)
      : limits_(limits), metrics_(metrics), log_(log) {}

  // The models arrive once loaded, after the server already listens (health says NOT_SERVING
  // until then, and calls get UNAVAILABLE).
  void SetModels(std::unique_ptr<service::ModelSet> models);
  // New calls get UNAVAILABLE from now on; calls in flight go on.
  void StopAccepting() { draining_.store(true); }

  grpc::Status Generate(grpc::ServerContext* ctx, const infer::v1::GenerateRequest* request,
                        grpc::ServerWriter<infer::v1::GenerateResponse>* writer) override;
  grpc::Status Classify(grpc::ServerContext* ctx, const infer::v1::ClassifyRequest* request,
                        infer::v1::ClassifyResponse* response) override;
  grpc::Status Embed(grpc::ServerContext* ctx, const infer::v1::EmbedRequest* request,
                     infer::v1::EmbedResponse* response) override;
  grpc::Status ExplainAttention(
      grpc::ServerContext* ctx, const infer::v1::ExplainAttentionRequest* request,
      grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* ctx, const infer::v1::TokenizeRequest* request,
                        infer::v1::TokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* ctx, const infer::v1::ListModelsRequest* request,
                          infer::v1::ListModelsResponse* response) override;

 private:
  using Handler = std::function<absl::Status(const service::ModelSet&, CallScope&)>;
  grpc::Status Serve(grpc::ServerContext* ctx, const char* rpc, const Handler& handler);

  service::ServiceLimits limits_;
  service::ServiceMetrics& metrics_;
  service::Logger& log_;
  std::unique_ptr<service::ModelSet> owned_models_;
  std::atomic<const service::ModelSet*> models_{nullptr};
  std::atomic<bool> draining_{false};
};

}  // namespace infer::api
