// How cuda::Attention will run a call: which kernels, with what grid and how many KV splits.
// Computed on the host from AttentionParams' host arrays only (no device reads). Attention() and
// AttentionWorkspaceBytes() both use it; tests print it so a failure names the path it took.
// Host-only header (no CUDA types), safe to include from .cc files of a CUDA build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/backend.h"

namespace infer::kernels::cuda {

struct AttentionPlan {
  bool empty = true;       // nothing to compute (no query rows)
  bool reference = false;  // the exact two-pass kernel (F32 prefill, other head dims, probs)
  bool decode = false;     // split-KV decode kernel over the sequences with one query row
  bool prefill = false;    // tensor-core prefill kernel (the sequences with more than one row
                           // when `decode` is also set; all of them otherwise)
  int total_q = 0;
  // Decode.
  int decode_head_group = 0;  // query heads per CTA (1, 2, 4 or 8; larger groups are chunked)
  int decode_head_chunks = 0;  // CTAs per kv head
  int decode_keys_per_thread_group = 0;  // lanes that share one key row (power of two, <= 32)
  int decode_splits = 1;       // grid z; 1: no workspace, no reduction
  int decode_split_len = 0;    // keys per split (a multiple of the decode chunk)
  // Prefill.
  int prefill_virtual_tiles = 0;  // grid x

  size_t workspace_bytes = 0;

  std::string Describe() const;
};

// `workspace_bytes`: what the caller can give; a plan that would need more falls back to one
// split (correct, slower). SIZE_MAX when planning the workspace itself.
AttentionPlan PlanAttention(const AttentionParams& p, size_t workspace_bytes = SIZE_MAX);

}  // namespace infer::kernels::cuda
