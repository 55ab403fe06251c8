// The service's Prometheus metrics: request counts by RPC, model and status code, latency
// histograms, token counters and in-flight gauges, all in one registry that the /metrics endpoint
// (MetricsEndpoint) exposes. Every method is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/runtime/scheduler_observer.h"

namespace infer::service {

class ServiceMetrics {
 public:
  ServiceMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // One finished call. code: the gRPC code name ("OK", "INVALID_ARGUMENT", ...); model: the
  // resolved model name, or "" when the request named none that exists (kept out of the label
  // values so unknown names sent by clients cannot grow the series without bound).
  void RecordRequest(const std::string& rpc, const std::string& model, const std::string& code,
                     double seconds);
  void AddPromptTokens(const std::string& model, double n);
  void AddGeneratedTokens(const std::string& model, double n);
  // Generate: time to the first streamed token.
  void ObserveTimeToFirstToken(const std::string& model, double seconds);

  // Counts a call as in flight for its lifetime.
  class InFlight {
   public:
    InFlight(prometheus::Gauge* g) : g_(g) { g_->Increment(); }
    ~InFlight() { g_->Decrement(); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    prometheus::Gauge* g_;
  };
  prometheus::Gauge* InFlightGauge(const std::string& rpc);

  void SetModelsLoaded(double n) { models_loaded_->Set(n); }

  // Generate: gap between consecutive tokens of one sequence, as the worker produced them.
  void ObserveInterTokenLatency(const std::string& model, double seconds);

  // The scheduler / batcher metrics of one model (waiting and running requests, KV blocks,
  // prefix cache, preemptions, step sizes, queue time, rejections), labelled with its name.
  // The observer must not outlive this object.
  std::unique_ptr<runtime::SchedulerObserver> ObserverFor(const std::string& model);

  // Families the observers add their series to.
  struct SchedulerFamilies {
    prometheus::Family<prometheus::Gauge>* waiting;
    prometheus::Family<prometheus::Gauge>* running;
    prometheus::Family<prometheus::Gauge>* kv_used;
    prometheus::Family<prometheus::Gauge>* kv_total;
    prometheus::Family<prometheus::Counter>* prefix_queries;
    prometheus::Family<prometheus::Counter>* prefix_hits;
    prometheus::Family<prometheus::Counter>* preemptions;
    prometheus::Family<prometheus::Histogram>* step_sequences;
    prometheus::Family<prometheus::Histogram>* step_tokens;
    prometheus::Family<prometheus::Histogram>* queue_time;
    prometheus::Family<prometheus::Counter>* rejected;
  };

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Histogram>* ttft_;
  prometheus::Family<prometheus::Counter>* prompt_tokens_;
  prometheus::Family<prometheus::Counter>* generated_tokens_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Gauge* models_loaded_;
  prometheus::Family<prometheus::Histogram>* itl_;
  SchedulerFamilies sched_;
};

}  // namespace infer::service
