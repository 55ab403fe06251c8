// The models a server holds, each under its name with the RPCs it answers, and the rule that
// picks the model for a request: the one it names, or the first (in configuration order) that
// serves the RPC when it names none.
//
// Until the scheduler lands, one request at a time runs on a model: ServedModel::Lock() hands out
// the model's mutex, waiting in slices so a caller that is cancelled meanwhile can give up.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/service/logger.h"
#include "server/service/server_config.h"
#include "server/tasks/task_model.h"

namespace infer::service {

class ServedModel {
 public:
  ServedModel(ModelSpec spec, std::unique_ptr<tasks::TaskModel> model, std::set<Rpc> rpcs)
      : spec_(std::move(spec)), model_(std::move(model)), rpcs_(std::move(rpcs)) {}

  const std::string& name() const { return spec_.name; }
  const ModelSpec& spec() const { return spec_; }
  const std::set<Rpc>& rpcs() const { return rpcs_; }
  bool Serves(Rpc rpc) const { return rpcs_.count(rpc) > 0; }
  tasks::TaskModel& model() { return *model_; }
  const tasks::TaskModel& model() const { return *model_; }

  // Exclusive use of the model. Polls `give_up` every few milliseconds while waiting; returns
  // CANCELLED when it says so.
  absl::StatusOr<std::unique_lock<std::timed_mutex>> Lock(const std::function<bool()>& give_up);

 private:
  ModelSpec spec_;
  std::unique_ptr<tasks::TaskModel> model_;
  std::set<Rpc> rpcs_;
  std::timed_mutex mu_;
};

// The RPCs a model's architecture can answer: decoders Generate, Classify (LM zero-shot),
// Tokenize, ExplainAttention; encoders Embed, Classify, Tokenize, ExplainAttention.
std::set<Rpc> SupportedRpcs(const tasks::TaskModel& model);

class ModelSet {
 public:
  // Loads every model; the first failure is returned naming the model. Logs each load.
  static absl::StatusOr<std::unique_ptr<ModelSet>> Load(const std::vector<ModelSpec>& specs,
                                                        int64_t kv_cache_mib, Logger& log);

  // NOT_FOUND for an unknown name (listing the known ones); INVALID_ARGUMENT naming `model` when
  // the model does not serve the RPC; NOT_FOUND when the name is empty and no model serves it.
  absl::StatusOr<ServedModel*> Resolve(const std::string& name, Rpc rpc) const;

  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }

 private:
  std::unique_ptr<kernels::Backend> cpu_;
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace infer::service
