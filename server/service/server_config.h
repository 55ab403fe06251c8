// What the server is told to do: which models to load (a name per folder, the RPCs each serves,
// its backend), where to listen, and the limits every request is held to. Read from an optional
// JSON config file, then from command-line flags, which win.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "server/service/rpc_kind.h"

namespace infer::service {

struct ModelSpec {
  std::string name;
  std::string path;
  std::string backend = "auto";  // "auto" (a GPU when one is visible), "cpu", "cuda", "cuda:N"
  std::string dtype;             // "bf16" (CUDA default), "fp16", "fp32" (the CPU's only one)
  std::vector<Rpc> rpcs;        // empty: every RPC the model's architecture can answer
};

struct ServiceLimits {
  int max_batch = 64;              // inputs per Classify / Embed / Tokenize request
  int max_new_tokens = 2048;       // per Generate request
  int max_labels = 64;             // zero-shot candidate labels per Classify request
  int max_explain_tokens = 512;    // tokens one ExplainAttention request may explain
  int max_explain_forward_passes = 4096;  // model evaluations per ExplainAttention request
  int64_t max_explain_bytes = int64_t{512} << 20;  // payload bytes per ExplainAttention reply
  int64_t max_request_bytes = 4 << 20;  // gRPC receive limit per message
};

// How each model's worker batches work (see server/runtime/generation_scheduler.h and
// encoder_batcher.h).
struct SchedulingConfig {
  int max_running_requests = 64;     // Generate requests decoding together per causal model
  int max_step_tokens = 512;         // tokens per model step (prompts are chunked to fit)
  int max_queue_requests = 256;      // waiting requests per model; more get RESOURCE_EXHAUSTED
  int64_t max_queue_tokens = 1 << 20;  // their prompt/input tokens together
  bool prefix_caching = true;        // reuse KV blocks of identical prompt prefixes
  int kv_block_size = 16;            // tokens per KV cache block
  int max_encoder_batch = 64;        // inputs per encoder forward (Embed, Classify)
  int64_t max_encoder_batch_tokens = 8192;
  double batch_delay_ms = 2;         // how long an encoder input waits for company
  // CUDA models: the share of the device's memory the process may use (weights, activations and
  // the KV cache, which gets what is left); CPU models size their pool from --kv-cache-mib.
  double gpu_memory_utilization = 0.9;
};

struct ServerConfig {
  std::string listen = "0.0.0.0:50051";
  std::string metrics_listen = "0.0.0.0:9090";  // empty or "off": no metrics endpoint
  std::vector<ModelSpec> models;
  ServiceLimits limits;
  int64_t kv_cache_mib = 512;        // KV cache pool per causal model
  SchedulingConfig scheduling;
  double shutdown_delay_seconds = 0;   // after SIGTERM: NOT_SERVING but still serving this long
  double shutdown_grace_seconds = 10;  // then in-flight calls get this long
  std::string ready_file;            // written with the bound ports once serving
  std::string log_format = "json";   // "json" or "text"
};

// "NAME=PATH[,rpcs=Generate+Classify][,backend=cpu|cuda:N|auto][,dtype=bf16]". A bare PATH names the model after its
// folder.
absl::StatusOr<ModelSpec> ParseModelFlag(std::string_view flag);

// Overlays a config file's fields on *config (see README "Configuration"). Unknown keys are
// errors so a typo does not silently change nothing.
absl::Status ApplyConfigJson(const nlohmann::json& json, ServerConfig* config);

// argv[0] is the program name. --config FILE is read first, then every other flag on top.
// Checks the result: at least one model, distinct names, sane limits.
absl::StatusOr<ServerConfig> ParseServerArgs(int argc, char** argv);

const char* ServerUsage();

}  // namespace infer::service
