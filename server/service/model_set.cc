#include "server/service/model_set.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/service/backend_choice.h"
#include "server/util/status_macros.h"

namespace infer::service {

ServedModel::ServedModel(ModelSpec spec, std::unique_ptr<tasks::TaskModel> model,
                         std::set<Rpc> rpcs, const SchedulingConfig& scheduling,
                         std::unique_ptr<runtime::SchedulerObserver> observer)
    : spec_(std::move(spec)),
      model_(std::move(model)),
      rpcs_(std::move(rpcs)),
      observer_(std::move(observer)) {
  runtime::SchedulerObserver* obs = observer_ ? observer_.get() : runtime::NullObserver();
  // CPU models compute on one shared thread (server/runtime/cpu_compute_thread.h says why).
  const bool on_cpu = !absl::StartsWith(spec_.backend, "cuda");
  runtime::QueueLimits queue;
  queue.max_waiting_requests = scheduling.max_queue_requests;
  queue.max_waiting_tokens = scheduling.max_queue_tokens;
  if (model_->causal()) {
    runtime::SchedulerOptions o;
    o.max_running_requests = scheduling.max_running_requests;
    o.max_step_tokens = scheduling.max_step_tokens;
    o.queue = queue;
    o.shared_cpu_compute = on_cpu;
    scheduler_ = std::make_unique<runtime::GenerationScheduler>(model_->lm(), o, obs);
  } else {
    runtime::EncoderBatcherOptions o;
    o.max_batch_inputs = scheduling.max_encoder_batch;
    o.max_batch_tokens = scheduling.max_encoder_batch_tokens;
    o.max_delay = std::chrono::microseconds(
        static_cast<int64_t>(scheduling.batch_delay_ms * 1000.0));
    o.queue = queue;
    o.shared_cpu_compute = on_cpu;
    batcher_ = std::make_unique<runtime::EncoderBatcher>(model_->encoder(), o, obs);
  }
}

ServedModel::~ServedModel() { Stop(); }

void ServedModel::Stop() {
  if (scheduler_) scheduler_->Stop();
  if (batcher_) batcher_->Stop();
}

absl::Status ServedModel::RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                                       const runtime::RequestLifetime& life) {
  if (scheduler_) return scheduler_->RunExclusive(std::move(fn), tokens, life);
  return batcher_->RunExclusive(std::move(fn), tokens, life);
}

std::set<Rpc> SupportedRpcs(const tasks::TaskModel& model) {
  if (model.causal()) {
    return {Rpc::kGenerate, Rpc::kClassify, Rpc::kTokenize, Rpc::kExplainAttention};
  }
  return {Rpc::kEmbed, Rpc::kClassify, Rpc::kTokenize, Rpc::kExplainAttention};
}

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Load(const std::vector<ModelSpec>& specs,
                                                         int64_t kv_cache_mib,
                                                         const SchedulingConfig& scheduling,
                                                         ServiceMetrics* metrics, Logger& log) {
  auto set = std::unique_ptr<ModelSet>(new ModelSet());
  set->cpu_ = kernels::MakeCpuBackend();
  std::vector<BackendChoice> choices;
  for (const ModelSpec& spec : specs) {
    absl::StatusOr<BackendChoice> c = ResolveBackend(spec.backend, spec.dtype);
    if (!c.ok()) {
      return absl::Status(c.status().code(),
                          absl::StrCat("model ", spec.name, ": ", c.status().message()));
    }
    choices.push_back(*c);
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const ModelSpec& spec = specs[i];
    const BackendChoice& choice = choices[i];
    auto start = std::chrono::steady_clock::now();
    kernels::Backend* backend = set->cpu_.get();
    if (choice.cuda) {
      absl::StatusOr<std::unique_ptr<kernels::Backend>> be = MakeBackend(choice);
      if (!be.ok()) {
        return absl::Status(be.status().code(),
                            absl::StrCat("model ", spec.name, ": ", be.status().message()));
      }
      set->devices_.push_back(std::move(*be));
      backend = set->devices_.back().get();
    }
    runtime::LmEngineOptions lm;
    lm.kv_cache_bytes = kv_cache_mib << 20;
    lm.block_size = scheduling.kv_block_size;
    lm.prefix_caching = scheduling.prefix_caching;
    if (choice.cuda) {
      // The KV pool takes what the device has left; models still to load on the same device
      // each keep an equal share of it.
      lm.device_memory_fraction = scheduling.gpu_memory_utilization;
      lm.reserve_tokens = std::max(scheduling.max_step_tokens, 512);
      lm.kv_share = 0;
      for (size_t j = i; j < specs.size(); ++j) {
        lm.kv_share += choices[j].cuda && choices[j].device == choice.device;
      }
    }
    absl::StatusOr<std::unique_ptr<tasks::TaskModel>> model;
    try {
      model = tasks::TaskModel::Load(spec.path, backend, lm);
    } catch (const std::bad_alloc& e) {
      model = absl::ResourceExhaustedError(
          absl::StrCat("out of memory loading the weights on ", choice.Label(), ": ", e.what()));
    } catch (const std::exception& e) {
      model = absl::InternalError(
          absl::StrCat("backend failure loading the model on ", choice.Label(), ": ", e.what()));
    }
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          absl::StrCat("model ", spec.name, " (", spec.path,
                                       "): ", model.status().message()));
    }
    std::set<Rpc> supported = SupportedRpcs(**model);
    std::set<Rpc> rpcs = supported;
    if (!spec.rpcs.empty()) {
      rpcs.clear();
      for (Rpc rpc : spec.rpcs) {
        if (!supported.count(rpc)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "model ", spec.name, ": a ", (*model)->causal() ? "causal LM" : "encoder",
              " cannot serve ", RpcName(rpc)));
        }
        rpcs.insert(rpc);
      }
    }
    std::vector<std::string> names;
    for (Rpc rpc : rpcs) names.push_back(RpcName(rpc));
    const model::ModelInfo& info = (*model)->info();
    log.Info("model_loaded",
             {{"model", spec.name},
              {"path", spec.path},
              {"family", info.family},
              {"backend", choice.Label()},
              {"rpcs", names},
              {"load_ms", std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count()}});
    ModelSpec resolved = spec;
    resolved.backend = choice.Label();  // what ListModels reports: "cpu", "cuda:0/bf16"
    set->models_.push_back(std::make_unique<ServedModel>(
        std::move(resolved), std::move(*model), std::move(rpcs), scheduling,
        metrics ? metrics->ObserverFor(spec.name) : nullptr));
  }
  return set;
}

void ModelSet::Stop() {
  for (auto& m : models_) m->Stop();
}

absl::StatusOr<ServedModel*> ModelSet::Resolve(const std::string& name, Rpc rpc) const {
  if (name.empty()) {
    for (const auto& m : models_) {
      if (m->Serves(rpc)) return m.get();
    }
    return absl::NotFoundError(
        absl::StrCat("model: no model on this server serves ", RpcName(rpc)));
  }
  for (const auto& m : models_) {
    if (m->name() != name) continue;
    if (!m->Serves(rpc)) {
      std::vector<std::string> names;
      for (Rpc r : m->rpcs()) names.push_back(RpcName(r));
      return absl::InvalidArgumentError(
          absl::StrCat("model: \"", name, "\" does not serve ", RpcName(rpc), " (it serves ",
                       absl::StrJoin(names, ", "), ")"));
    }
    return m.get();
  }
  std::vector<std::string> known;
  for (const auto& m : models_) known.push_back(m->name());
  return absl::NotFoundError(absl::StrCat("model: no model named \"", name,
                                          "\" (loaded: ", absl::StrJoin(known, ", "), ")"));
}

}  // namespace infer::service
