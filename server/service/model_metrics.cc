// ServiceMetrics::ObserverFor: a model's scheduler metrics as Prometheus series labelled with
// the model's name. Every series is created up front so the endpoint shows zeros before traffic.
#include "server/service/service_metrics.h"

namespace infer::service {
namespace {

prometheus::Histogram::BucketBoundaries CountBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
}

prometheus::Histogram::BucketBoundaries QueueBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

class ModelMetrics final : public runtime::SchedulerObserver {
 public:
  ModelMetrics(const ServiceMetrics::SchedulerFamilies& f, const std::string& model)
      : f_(f),
        model_(model),
        waiting_(f.waiting->Add({{"model", model}})),
        running_(f.running->Add({{"model", model}})),
        kv_used_(f.kv_used->Add({{"model", model}})),
        kv_total_(f.kv_total->Add({{"model", model}})),
        prefix_queries_(f.prefix_queries->Add({{"model", model}})),
        prefix_hits_(f.prefix_hits->Add({{"model", model}})),
        preemptions_(f.preemptions->Add({{"model", model}})),
        step_sequences_(f.step_sequences->Add({{"model", model}}, CountBuckets())),
        step_tokens_(f.step_tokens->Add({{"model", model}}, CountBuckets())),
        queue_time_(f.queue_time->Add({{"model", model}}, QueueBuckets())) {
    for (const char* reason : {"queue_requests", "queue_tokens", "shutting_down"}) {
      f.rejected->Add({{"model", model}, {"reason", reason}});
    }
  }

  void SetQueue(int waiting, int running) override {
    waiting_.Set(waiting);
    running_.Set(running);
  }
  void SetKvBlocks(int used, int total) override {
    kv_used_.Set(used);
    kv_total_.Set(total);
  }
  void AddPrefixCache(int64_t queries, int64_t hits) override {
    if (queries > 0) prefix_queries_.Increment(static_cast<double>(queries));
    if (hits > 0) prefix_hits_.Increment(static_cast<double>(hits));
  }
  void AddPreemptions(int n) override { preemptions_.Increment(n); }
  void ObserveStep(int sequences, int tokens) override {
    step_sequences_.Observe(sequences);
    step_tokens_.Observe(tokens);
  }
  void ObserveQueueTime(double seconds) override { queue_time_.Observe(seconds); }
  void AddRejected(std::string_view reason) override {
    // prometheus-cpp families are thread-safe; Add returns the existing series.
    f_.rejected->Add({{"model", model_}, {"reason", std::string(reason)}}).Increment();
  }

 private:
  const ServiceMetrics::SchedulerFamilies& f_;
  std::string model_;
  prometheus::Gauge &waiting_, &running_, &kv_used_, &kv_total_;
  prometheus::Counter &prefix_queries_, &prefix_hits_, &preemptions_;
  prometheus::Histogram &step_sequences_, &step_tokens_, &queue_time_;
};

}  // namespace

std::unique_ptr<runtime::SchedulerObserver> ServiceMetrics::ObserverFor(const std::string& model) {
  return std::make_unique<ModelMetrics>(sched_, model);
}

}  // namespace infer::service
