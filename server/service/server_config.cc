#include "server/service/server_config.h"

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/model/config_json.h"
#include "server/service/backend_choice.h"
#include "server/util/cli_args.h"
#include "server/util/status_macros.h"

namespace infer::service {
namespace {

absl::StatusOr<std::vector<Rpc>> ParseRpcList(const std::vector<std::string>& names,
                                              const std::string& where) {
  std::vector<Rpc> rpcs;
  for (const std::string& n : names) {
    std::optional<Rpc> rpc = ParseRpcName(n);
    if (!rpc) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown RPC \"", n,
          "\" (Generate, Classify, Embed, ExplainAttention, Tokenize)"));
    }
    rpcs.push_back(*rpc);
  }
  return rpcs;
}


std::string DefaultModelName(const std::string& path) {
  std::filesystem::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "models/x/" names "x"
  return p.filename().string();
}

absl::Status CheckConfig(const ServerConfig& c) {
  if (c.models.empty()) {
    return absl::InvalidArgumentError(
        "no models: name at least one with --model NAME=PATH or a config file's \"models\"");
  }
  std::set<std::string> names;
  for (const ModelSpec& m : c.models) {
    if (m.name.empty()) return absl::InvalidArgumentError("a model has an empty name");
    if (m.path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("model ", m.name, ": empty path"));
    }
    if (!names.insert(m.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("model name \"", m.name, "\" is used twice"));
    }
  }
  const ServiceLimits& l = c.limits;
  if (l.max_batch < 1 || l.max_new_tokens < 1 || l.max_labels < 1 || l.max_explain_tokens < 1 ||
      l.max_explain_forward_passes < 1 || l.max_explain_bytes < 1 ||
      l.max_request_bytes < 1024) {
    return absl::InvalidArgumentError(
        "limits must be positive (and --max-request-bytes at least 1024)");
  }
  if (c.kv_cache_mib < 1) return absl::InvalidArgumentError("--kv-cache-mib must be positive");
  if (!(c.scheduling.gpu_memory_utilization > 0 && c.scheduling.gpu_memory_utilization <= 1)) {
    return absl::InvalidArgumentError("--gpu-memory-utilization must be in (0, 1]");
  }
  const SchedulingConfig& s = c.scheduling;
  if (s.max_running_requests < 1 || s.max_step_tokens < 1 || s.max_queue_requests < 1 ||
      s.max_queue_tokens < 1 || s.max_encoder_batch < 1 || s.max_encoder_batch_tokens < 1) {
    return absl::InvalidArgumentError(
        "--max-running-requests, --max-step-tokens, --max-queue-requests, --max-queue-tokens, "
        "--max-encoder-batch and --max-encoder-batch-tokens must be positive");
  }
  if (s.kv_block_size < 1 || s.kv_block_size > 1024) {
    return absl::InvalidArgumentError("--kv-block-size must be in [1, 1024]");
  }
  if (!(s.batch_delay_ms >= 0) || s.batch_delay_ms > 10000) {
    return absl::InvalidArgumentError("--batch-delay-ms must be in [0, 10000]");
  }
  if (!(c.shutdown_grace_seconds >= 0) || !(c.shutdown_delay_seconds >= 0)) {
    return absl::InvalidArgumentError(
        "--shutdown-grace-seconds and --shutdown-delay-seconds must be >= 0");
  }
  if (c.log_format != "json" && c.log_format != "text") {
    return absl::InvalidArgumentError("--log-format must be json or text");
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadInt(const nlohmann::json& j, const char* key, T* out) {
  if (!j.contains(key)) return absl::OkStatus();
  if (!j[key].is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("config: \"", key, "\" must be an integer"));
  }
  *out = j[key].get<T>();
  return absl::OkStatus();
}

absl::Status ReadString(const nlohmann::json& j, const char* key, std::string* out) {
  if (!j.contains(key)) return absl::OkStatus();
  if (!j[key].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("config: \"", key, "\" must be a string"));
  }
  *out = j[key].get<std::string>();
  return absl::OkStatus();
}

absl::Status CheckKeys(const nlohmann::json& j, const std::set<std::string>& known,
                       const std::string& where) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " must be a JSON object"));
  }
  for (const auto& [k, v] : j.items()) {
    if (!known.count(k)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown key \"", k, "\" (known: ",
                                                     absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelSpec> ModelFromJson(const nlohmann::json& j, size_t index) {
  std::string where = absl::StrCat("config: models[", index, "]");
  INFER_RETURN_IF_ERROR(CheckKeys(j, {"name", "path", "rpcs", "backend", "dtype"}, where));
  ModelSpec m;
  INFER_RETURN_IF_ERROR(ReadString(j, "path", &m.path));
  if (m.path.empty()) return absl::InvalidArgumentError(where + ": \"path\" is required");
  m.name = DefaultModelName(m.path);
  INFER_RETURN_IF_ERROR(ReadString(j, "name", &m.name));
  INFER_RETURN_IF_ERROR(ReadString(j, "backend", &m.backend));
  INFER_RETURN_IF_ERROR(ReadString(j, "dtype", &m.dtype));
  INFER_RETURN_IF_ERROR(CheckBackendSpec(m.backend, m.dtype, where));
  if (j.contains("rpcs")) {
    if (!j["rpcs"].is_array()) return absl::InvalidArgumentError(where + ": \"rpcs\" must be a list");
    std::vector<std::string> names;
    for (const auto& r : j["rpcs"]) {
      if (!r.is_string()) return absl::InvalidArgumentError(where + ": \"rpcs\" holds strings");
      names.push_back(r.get<std::string>());
    }
    INFER_ASSIGN_OR_RETURN(m.rpcs, ParseRpcList(names, where));
  }
  return m;
}

}  // namespace

absl::StatusOr<ModelSpec> ParseModelFlag(std::string_view flag) {
  std::string where = absl::StrCat("--model ", std::string(flag));
  std::vector<std::string> parts = absl::StrSplit(std::string(flag), ',');
  ModelSpec m;
  size_t eq = parts[0].find('=');
  if (eq == std::string::npos) {
    m.path = parts[0];
    m.name = DefaultModelName(m.path);
  } else {
    m.name = parts[0].substr(0, eq);
    m.path = parts[0].substr(eq + 1);
  }
  if (m.name.empty() || m.path.empty()) {
    return absl::InvalidArgumentError(where +
                                      ": expected NAME=PATH[,rpcs=A+B][,backend=B][,dtype=D]");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    size_t e = parts[i].find('=');
    std::string key = parts[i].substr(0, e);
    std::string value = e == std::string::npos ? "" : parts[i].substr(e + 1);
    if (key == "rpcs") {
      INFER_ASSIGN_OR_RETURN(m.rpcs,
                             ParseRpcList(absl::StrSplit(value, '+', absl::SkipEmpty()), where));
      if (m.rpcs.empty()) return absl::InvalidArgumentError(where + ": rpcs= names no RPC");
    } else if (key == "backend") {
      m.backend = value;
    } else if (key == "dtype") {
      m.dtype = value;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown option \"", key, "\" (rpcs, backend, dtype)"));
    }
  }
  INFER_RETURN_IF_ERROR(CheckBackendSpec(m.backend, m.dtype, where));
  return m;
}

absl::Status ApplyConfigJson(const nlohmann::json& j, ServerConfig* c) {
  INFER_RETURN_IF_ERROR(CheckKeys(
      j,
      {"listen", "metrics_listen", "models", "max_batch", "max_new_tokens", "max_labels",
       "max_explain_tokens", "max_explain_forward_passes", "max_explain_bytes",
       "max_request_bytes", "kv_cache_mib", "shutdown_grace_seconds",
       "shutdown_delay_seconds", "ready_file", "log_format", "max_running_requests",
       "max_step_tokens", "max_queue_requests", "max_queue_tokens", "prefix_caching",
       "kv_block_size", "max_encoder_batch", "max_encoder_batch_tokens", "batch_delay_ms",
       "gpu_memory_utilization"},
      "config"));
  INFER_RETURN_IF_ERROR(ReadString(j, "listen", &c->listen));
  INFER_RETURN_IF_ERROR(ReadString(j, "metrics_listen", &c->metrics_listen));
  INFER_RETURN_IF_ERROR(ReadString(j, "ready_file", &c->ready_file));
  INFER_RETURN_IF_ERROR(ReadString(j, "log_format", &c->log_format));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_batch", &c->limits.max_batch));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_new_tokens", &c->limits.max_new_tokens));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_labels", &c->limits.max_labels));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_explain_tokens", &c->limits.max_explain_tokens));
  INFER_RETURN_IF_ERROR(
      ReadInt(j, "max_explain_forward_passes", &c->limits.max_explain_forward_passes));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_explain_bytes", &c->limits.max_explain_bytes));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_request_bytes", &c->limits.max_request_bytes));
  INFER_RETURN_IF_ERROR(ReadInt(j, "kv_cache_mib", &c->kv_cache_mib));
  SchedulingConfig& s = c->scheduling;
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_running_requests", &s.max_running_requests));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_step_tokens", &s.max_step_tokens));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_queue_requests", &s.max_queue_requests));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_queue_tokens", &s.max_queue_tokens));
  INFER_RETURN_IF_ERROR(ReadInt(j, "kv_block_size", &s.kv_block_size));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_encoder_batch", &s.max_encoder_batch));
  INFER_RETURN_IF_ERROR(ReadInt(j, "max_encoder_batch_tokens", &s.max_encoder_batch_tokens));
  if (j.contains("prefix_caching")) {
    if (!j["prefix_caching"].is_boolean()) {
      return absl::InvalidArgumentError("config: \"prefix_caching\" must be true or false");
    }
    s.prefix_caching = j["prefix_caching"].get<bool>();
  }
  for (auto [key, field] : {std::pair{"shutdown_grace_seconds", &c->shutdown_grace_seconds},
                             std::pair{"shutdown_delay_seconds", &c->shutdown_delay_seconds},
                             std::pair{"batch_delay_ms", &s.batch_delay_ms},
                             std::pair{"gpu_memory_utilization", &s.gpu_memory_utilization}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("config: \"", key, "\" must be a number"));
    }
    *field = j[key].get<double>();
  }
  if (j.contains("models")) {
    if (!j["models"].is_array()) return absl::InvalidArgumentError("config: \"models\" must be a list");
    for (size_t i = 0; i < j["models"].size(); ++i) {
      INFER_ASSIGN_OR_RETURN(ModelSpec m, ModelFromJson(j["models"][i], i));
      c->models.push_back(std::move(m));
    }
  }
  return absl::OkStatus();
}

const char* ServerUsage() {
  return R"(usage: infer-server --model NAME=PATH[,rpcs=Generate+Classify+...][,backend=B][,dtype=D] ...

Serves the infer.v1.InferenceService gRPC API for the named Hugging Face model folders.

  --model NAME=PATH[,..]     a model folder to serve (repeatable); rpcs= limits what it answers;
                             backend= auto (default: the first GPU if any, else cpu), cpu,
                             cuda, cuda:N; dtype= bf16 (CUDA default), fp16, fp32 (CPU: fp32)
  --config FILE              JSON config (same keys as the flags, with "models": [{"name", "path",
                             "rpcs", "backend", "dtype"}]); flags given as well override it
  --listen HOST:PORT         gRPC address (default 0.0.0.0:50051; port 0 picks a free one)
  --metrics-listen HOST:PORT Prometheus /metrics address (default 0.0.0.0:9090; "off" disables)
  --max-batch N              inputs per Classify/Embed/Tokenize request (default 64)
  --max-new-tokens N         new tokens per Generate request (default 2048)
  --max-labels N             zero-shot labels per Classify request (default 64)
  --max-explain-tokens N     tokens per ExplainAttention request (default 512)
  --max-explain-forward-passes N  model evaluations per ExplainAttention request (default 4096)
  --max-explain-bytes N      payload bytes per ExplainAttention reply (default 536870912)
  --max-request-bytes N      largest request message (default 4194304)
  --kv-cache-mib N           KV cache pool per causal model on the CPU (default 512)
  --gpu-memory-utilization F share of a GPU's memory the server may use; CUDA models' KV caches
                             get what weights and activations leave of it (default 0.9)
  --kv-block-size N          tokens per KV cache block (default 16)
  --prefix-caching on|off    reuse cached KV blocks of identical prompt prefixes (default on)
  --max-running-requests N   Generate requests batched together per model (default 64)
  --max-step-tokens N        tokens per model step; longer prompts are chunked (default 512)
  --max-queue-requests N     requests waiting per model before RESOURCE_EXHAUSTED (default 256)
  --max-queue-tokens N       prompt/input tokens waiting per model (default 1048576)
  --max-encoder-batch N      inputs per Embed/Classify forward, across requests (default 64)
  --max-encoder-batch-tokens N  tokens per encoder forward (default 8192)
  --batch-delay-ms MS        how long an Embed/Classify input waits for others (default 2)
  --shutdown-delay-seconds S after SIGTERM/SIGINT, report NOT_SERVING but keep serving this
                             long, for load balancers to notice (default 0)
  --shutdown-grace-seconds S then refuse new calls and give those in flight this long (default 10)
  --ready-file PATH          once serving, write {"grpc_port","metrics_port","pid"} there
  --log-format json|text     structured log lines on stderr (default json)
)";
}

absl::StatusOr<ServerConfig> ParseServerArgs(int argc, char** argv) {
  INFER_ASSIGN_OR_RETURN(tools::CliArgs args, tools::CliArgs::Parse(argc - 1, argv + 1, {}));
  if (!args.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", args.positional()[0], "\"; see --help"));
  }
  ServerConfig c;
  if (std::optional<std::string> file = args.Get("config")) {
    INFER_ASSIGN_OR_RETURN(nlohmann::json j, model::LoadJsonFile(*file));
    absl::Status s = ApplyConfigJson(j, &c);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(*file, ": ", s.message()));
  }
  for (const std::string& flag : args.GetAll("model")) {
    INFER_ASSIGN_OR_RETURN(ModelSpec m, ParseModelFlag(flag));
    c.models.push_back(std::move(m));
  }
  if (auto v = args.Get("listen")) c.listen = *v;
  if (auto v = args.Get("metrics-listen")) c.metrics_listen = *v == "off" ? "" : *v;
  if (auto v = args.Get("ready-file")) c.ready_file = *v;
  if (auto v = args.Get("log-format")) c.log_format = *v;
  struct IntFlag {
    const char* name;
    int64_t* wide;
    int* narrow;
  };
  const IntFlag ints[] = {{"max-batch", nullptr, &c.limits.max_batch},
                          {"max-new-tokens", nullptr, &c.limits.max_new_tokens},
                          {"max-labels", nullptr, &c.limits.max_labels},
                          {"max-explain-tokens", nullptr, &c.limits.max_explain_tokens},
                          {"max-explain-forward-passes", nullptr,
                           &c.limits.max_explain_forward_passes},
                          {"max-explain-bytes", &c.limits.max_explain_bytes, nullptr},
                          {"max-request-bytes", &c.limits.max_request_bytes, nullptr},
                          {"kv-cache-mib", &c.kv_cache_mib, nullptr},
                          {"kv-block-size", nullptr, &c.scheduling.kv_block_size},
                          {"max-running-requests", nullptr, &c.scheduling.max_running_requests},
                          {"max-step-tokens", nullptr, &c.scheduling.max_step_tokens},
                          {"max-queue-requests", nullptr, &c.scheduling.max_queue_requests},
                          {"max-queue-tokens", &c.scheduling.max_queue_tokens, nullptr},
                          {"max-encoder-batch", nullptr, &c.scheduling.max_encoder_batch},
                          {"max-encoder-batch-tokens", &c.scheduling.max_encoder_batch_tokens,
                           nullptr}};
  for (const IntFlag& f : ints) {
    INFER_ASSIGN_OR_RETURN(std::optional<int64_t> v, args.GetInt(f.name));
    if (!v) continue;
    if (f.wide) *f.wide = *v;
    if (f.narrow) {
      if (*v < 0 || *v > (int64_t{1} << 30)) {
        return absl::InvalidArgumentError(absl::StrCat("--", f.name, " is out of range"));
      }
      *f.narrow = static_cast<int>(*v);
    }
  }
  INFER_ASSIGN_OR_RETURN(std::optional<double> grace, args.GetDouble("shutdown-grace-seconds"));
  if (grace) c.shutdown_grace_seconds = *grace;
  INFER_ASSIGN_OR_RETURN(std::optional<double> delay, args.GetDouble("shutdown-delay-seconds"));
  if (delay) c.shutdown_delay_seconds = *delay;
  INFER_ASSIGN_OR_RETURN(std::optional<double> batch_delay, args.GetDouble("batch-delay-ms"));
  if (batch_delay) c.scheduling.batch_delay_ms = *batch_delay;
  INFER_ASSIGN_OR_RETURN(std::optional<double> gpu_util, args.GetDouble("gpu-memory-utilization"));
  if (gpu_util) c.scheduling.gpu_memory_utilization = *gpu_util;
  if (auto v = args.Get("prefix-caching")) {
    if (*v != "on" && *v != "off") {
      return absl::InvalidArgumentError("--prefix-caching must be on or off");
    }
    c.scheduling.prefix_caching = *v == "on";
  }
  std::vector<std::string> unread = args.Unread();
  if (!unread.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", unread[0], "; see --help"));
  }
  INFER_RETURN_IF_ERROR(CheckConfig(c));
  return c;
}

}  // namespace infer::service
