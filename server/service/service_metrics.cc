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
  itl_ = &prometheus::BuildHistogram()
              .Name("infer_inter_token_latency_seconds")
              .Help("Generate: time between consecutive tokens of a sequence, by model")
              .Register(*registry_);
  auto gauge = [this](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  };
  auto counter = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  auto histogram = [this](const char* name, const char* help) {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  };
  sched_.waiting = gauge("infer_requests_waiting", "Requests queued for a model, not yet running");
  sched_.running = gauge("infer_requests_running",
                         "Requests a model's scheduler is running (holding KV blocks or batched)");
  sched_.kv_used = gauge("infer_kv_cache_blocks_used", "KV cache blocks referenced by sequences");
  sched_.kv_total = gauge("infer_kv_cache_blocks_total", "KV cache blocks in the model's pool");
  sched_.prefix_queries = counter("infer_prefix_cache_queries_total",
                                  "Full KV blocks looked up in the prefix cache");
  sched_.prefix_hits = counter("infer_prefix_cache_hits_total",
                               "Full KV blocks found in the prefix cache and reused");
  sched_.preemptions = counter("infer_preemptions_total",
                               "Running requests preempted (blocks freed, recomputed later)");
  sched_.step_sequences = histogram("infer_batch_sequences",
                                    "Sequences (or encoder inputs) per model step");
  sched_.step_tokens = histogram("infer_batch_tokens", "Tokens computed per model step");
  sched_.queue_time = histogram("infer_queue_time_seconds",
                                "Time from arrival to the request's first model step");
  sched_.rejected = counter("infer_rejected_requests_total",
                            "Requests refused before running, by reason");
}

void ServiceMetrics::ObserveInterTokenLatency(const std::string& model, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  itl_->Add({{"model", model}}, kBuckets).Observe(seconds);
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
