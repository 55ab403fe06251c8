// The models a server holds, each under its name with the RPCs it answers, and the rule that
// picks the model for a request: the one it names, or the first (in configuration order) that
// serves the RPC when it names none.
//
// Every model has one worker thread that owns it: a GenerationScheduler (continuous batching) for
// causal models, an EncoderBatcher (request merging) for encoders. Work that needs the model to
// itself (zero-shot scoring, explanations) runs on that worker through RunExclusive.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/runtime/encoder_batcher.h"
#include "server/runtime/generation_scheduler.h"
#include "server/runtime/request_lifetime.h"
#include "server/runtime/scheduler_observer.h"
#include "server/service/logger.h"
#include "server/service/server_config.h"
#include "server/service/service_metrics.h"
#include "server/tasks/task_model.h"

namespace infer::service {

class ServedModel {
 public:
  // Starts the model's worker thread.
  ServedModel(ModelSpec spec, std::unique_ptr<tasks::TaskModel> model, std::set<Rpc> rpcs,
              const SchedulingConfig& scheduling,
              std::unique_ptr<runtime::SchedulerObserver> observer);
  ~ServedModel();  // Stop()

  const std::string& name() const { return spec_.name; }
  const ModelSpec& spec() const { return spec_; }
  const std::set<Rpc>& rpcs() const { return rpcs_; }
  bool Serves(Rpc rpc) const { return rpcs_.count(rpc) > 0; }
  tasks::TaskModel& model() { return *model_; }
  const tasks::TaskModel& model() const { return *model_; }

  // The causal model's scheduler, or null for encoders.
  runtime::GenerationScheduler* scheduler() { return scheduler_.get(); }
  // The encoder's batcher, or null for causal models.
  runtime::EncoderBatcher* batcher() { return batcher_.get(); }
  // Runs fn on the model's worker with the model to itself (queued like a request of `tokens`
  // tokens; RESOURCE_EXHAUSTED when the queue is full).
  absl::Status RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                            const runtime::RequestLifetime& life);
  // Ends the worker: what waits or runs gets UNAVAILABLE. Idempotent.
  void Stop();

 private:
  ModelSpec spec_;
  std::unique_ptr<tasks::TaskModel> model_;
  std::set<Rpc> rpcs_;
  std::unique_ptr<runtime::SchedulerObserver> observer_;
  std::unique_ptr<runtime::GenerationScheduler> scheduler_;
  std::unique_ptr<runtime::EncoderBatcher> batcher_;
};

// The RPCs a model's architecture can answer: decoders Generate, Classify (LM zero-shot),
// Tokenize, ExplainAttention; encoders Embed, Classify, Tokenize, ExplainAttention.
std::set<Rpc> SupportedRpcs(const tasks::TaskModel& model);

class ModelSet {
 public:
  // Loads every model; the first failure is returned naming the model. Logs each load.
  // metrics may be null (no scheduler metrics).
  static absl::StatusOr<std::unique_ptr<ModelSet>> Load(const std::vector<ModelSpec>& specs,
                                                        int64_t kv_cache_mib,
                                                        const SchedulingConfig& scheduling,
                                                        ServiceMetrics* metrics, Logger& log);
  // Stops every model's worker (after the gRPC server has stopped).
  void Stop();

  // NOT_FOUND for an unknown name (listing the known ones); INVALID_ARGUMENT naming `model` when
  // the model does not serve the RPC; NOT_FOUND when the name is empty and no model serves it.
  absl::StatusOr<ServedModel*> Resolve(const std::string& name, Rpc rpc) const;

  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }

 private:
  // Declared before models_ so they outlive them: the CPU backend is shared, each CUDA model has
  // its own (its own stream).
  std::unique_ptr<kernels::Backend> cpu_;
  std::vector<std::unique_ptr<kernels::Backend>> devices_;
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace infer::service
