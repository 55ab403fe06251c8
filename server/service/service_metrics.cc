#include "server/service/service_metrics.h"

namespace infer::service {
namespace {

// Latency buckets from 1 ms to about 2 minutes: embeddings take milliseconds, long generations
// minutes.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
          1,     2.5,    5,     10,   30,    60,   120};
}

}  // namespace

ServiceMetrics::ServiceMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("infer_requests_total")
                   .Help("Finished RPCs by method, model and gRPC status code")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("infer_request_duration_seconds")
                  .Help("Server-side RPC latency by method and model")
                  .Register(*registry_);
  ttft_ = &prometheus::BuildHistogram()
               .Name("infer_time_to_first_token_seconds")
               .Help("Generate: time from the call's start to its first streamed token")
               .Register(*registry_);
  prompt_tokens_ = &prometheus::BuildCounter()
                        .Name("infer_prompt_tokens_total")
                        .Help("Input tokens read, by model")
                        .Register(*registry_);
  generated_tokens_ = &prometheus::BuildCounter()
                           .Name("infer_generated_tokens_total")
                           .Help("Tokens generated, by model")
                           .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("infer_requests_in_flight")
                    .Help("RPCs being served now, by method")
                    .Register(*registry_);
  models_loaded_ = &prometheus::BuildGauge()
                        .Name("infer_models_loaded")
                        .Help("Models loaded and serving")
                        .Register(*registry_)
                        .Add({});
}

void ServiceMetrics::RecordRequest(const std::string& rpc, const std::string& model,
                                   const std::string& code, double seconds) {
  requests_->Add({{"rpc", rpc}, {"model", model}, {"code", code}}).Increment();
  latency_->Add({{"rpc", rpc}, {"model", model}}, LatencyBuckets()).Observe(seconds);
}

void ServiceMetrics::AddPromptTokens(const std::string& model, double n) {
  prompt_tokens_->Add({{"model", model}}).Increment(n);
}

void ServiceMetrics::AddGeneratedTokens(const std::string& model, double n) {
  generated_tokens_->Add({{"model", model}}).Increment(n);
}

void ServiceMetrics::ObserveTimeToFirstToken(const std::string& model, double seconds) {
  ttft_->Add({{"model", model}}, LatencyBuckets()).Observe(seconds);
}

prometheus::Gauge* ServiceMetrics::InFlightGauge(const std::string& rpc) {
  return &in_flight_->Add({{"rpc", rpc}});
}

}  // namespace infer::service
