// Which compute backend a model runs on: "cpu", "cuda:N" (or "cuda" = "cuda:0"), or "auto" (the
// default: the first GPU when one is visible, else the CPU), with the element type its weights,
// activations and KV cache use ("bf16" default on CUDA, "fp16", "fp32"; the CPU is fp32 only).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace infer::service {

struct BackendChoice {
  bool cuda = false;
  int device = 0;
  kernels::DType dtype = kernels::DType::kF32;
  std::string Label() const;  // "cpu" or "cuda:0/bf16"
};

// Syntax only (no device query): for config parsing. `where` prefixes the message.
absl::Status CheckBackendSpec(const std::string& backend, const std::string& dtype,
                              const std::string& where);
// Resolves "auto" against the devices present. INVALID_ARGUMENT for bad names, a CPU dtype other
// than fp32, or "cuda:N" beyond the visible devices (or in a build without CUDA).
absl::StatusOr<BackendChoice> ResolveBackend(const std::string& backend,
                                             const std::string& dtype);
// A new backend instance (each CUDA model gets its own, so each engine has its own stream).
absl::StatusOr<std::unique_ptr<kernels::Backend>> MakeBackend(const BackendChoice& choice);

}  // namespace infer::service
