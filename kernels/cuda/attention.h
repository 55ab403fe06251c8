// Launchers of the CUDA attention kernels. AttentionParams' device arrays are device memory and
// its *_host arrays host memory; the launcher plans from the host copies (which kernel, grid,
// how many KV splits) and never reads device memory or synchronises.
//
// Paths (chosen per call from the shapes):
//   - decode: every sequence has one query row -> split-KV paged decode ("flash-decoding") plus
//     a reduction kernel when a context is split;
//   - prefill: FlashAttention-2 style tiled kernel on tensor cores (F16/BF16, head_dim 64 or 128
//     and the other sizes the dispatcher instantiates), causal or bidirectional, packed varlen,
//     keys from the paged cache or contiguous k/v;
//   - reference path (any dtype incl. F32, any head_dim <= 256, and whenever probs are asked):
//     exact softmax rows, also writing the probabilities for explanations.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/backend.h"

namespace infer::kernels::cuda {

// Device scratch the call needs (split-KV partial outputs and statistics); 0 when none.
size_t AttentionWorkspaceBytes(const AttentionParams& p);
// `workspace` holds at least AttentionWorkspaceBytes(p) bytes (may be null when that is 0).
void Attention(const AttentionParams& p, void* workspace, size_t workspace_bytes,
               cudaStream_t stream);
// vLLM's reshape_and_cache: row i of k/v to slot slot_mapping[i] of the paged caches.
void WriteKv(const KvWriteParams& p, cudaStream_t stream);

}  // namespace infer::kernels::cuda
