// cuda::Attention: plans a call from the host arrays (which kernels, grids, KV splits) and
// launches the kernels of attention_decode.cu, attention_prefill.cu and attention_reference.cu.
// Never reads device memory and never synchronises, so it can be captured in a CUDA graph.
//
// Dispatch rules (first match):
//   1. probs requested                                   -> reference (writes probabilities)
//   2. every sequence has q_len <= 1, head_dim % (16 / sizeof(dtype)) == 0, <= 256
//                                                         -> decode (any dtype)
//   3. F16/BF16, head_dim 32/64/128, every q_len != 1     -> prefill (tensor cores)
//   4. the same with some q_len == 1 sequences           -> decode for those + prefill for the rest
//   5. anything else (F32 prefill, head_dim 96, ...)      -> reference
// Rules 2-4 also need 16-byte aligned q, out and key/value pointers.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <sstream>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_common.cuh"

namespace infer::kernels::cuda {
namespace attn {

int SmCount() {
  static std::atomic<int> cache[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    dev = 0;
  }
  if (dev >= 0 && dev < 64) {
    const int v = cache[dev].load(std::memory_order_relaxed);
    if (v > 0) return v;
  }
  int n = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
    cudaGetLastError();
    return 108;  // no device to ask (planning on a build machine): an A100's count
  }
  if (dev >= 0 && dev < 64) cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace attn

namespace {

bool Aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

int NextPow2(int x) {
  int p = 1;
  while (p < x) p <<= 1;
  return p;
}

}  // namespace

std::string AttentionPlan::Describe() const {
  std::ostringstream os;
  if (empty) return "empty (no query rows)";
  os << "total_q=" << total_q;
  if (reference) os << " reference";
  if (decode) {
    os << " decode(head_group=" << decode_head_group << " head_chunks=" << decode_head_chunks
       << " lanes_per_key=" << decode_keys_per_thread_group << " splits=" << decode_splits
       << " split_len=" << decode_split_len << ")";
  }
  if (prefill) os << " prefill-mma(virtual_tiles=" << prefill_virtual_tiles << ")";
  os << " workspace=" << workspace_bytes;
  return os.str();
}

AttentionPlan PlanAttention(const AttentionParams& p, size_t workspace_bytes) {
  AttentionPlan plan;
  if (p.num_seqs <= 0 || p.num_heads <= 0 || p.head_dim <= 0) return plan;
  if (p.cu_seqlens_q_host == nullptr || p.context_lens_host == nullptr) {
    throw std::invalid_argument("cuda::Attention: cu_seqlens_q_host/context_lens_host are null");
  }
  if (p.head_dim > 256) {
    throw std::invalid_argument("cuda::Attention: head_dim " + std::to_string(p.head_dim) +
                                " > 256 is not supported");
  }
  if (p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0) {
    throw std::invalid_argument("cuda::Attention: num_heads must be a multiple of num_kv_heads");
  }
  plan.total_q = p.cu_seqlens_q_host[p.num_seqs];
  if (plan.total_q <= 0) return plan;
  plan.empty = false;

  int n_single = 0, n_multi = 0, max_ctx_single = 0;
  int64_t total_keys_single = 0;
  for (int s = 0; s < p.num_seqs; ++s) {
    const int q_len = p.cu_seqlens_q_host[s + 1] - p.cu_seqlens_q_host[s];
    if (q_len == 1) {
      ++n_single;
      max_ctx_single = std::max(max_ctx_single, p.context_lens_host[s]);
      total_keys_single += std::max(p.context_lens_host[s], 0);
    } else if (q_len > 1) {
      ++n_multi;
    }
  }

  const bool paged = p.block_tables != nullptr;
  const void* kp = paged ? p.k_cache : p.k;
  const void* vp = paged ? p.v_cache : p.v;
  const bool aligned = Aligned16(p.q) && Aligned16(p.out) && Aligned16(kp) && Aligned16(vp);
  const int elem = static_cast<int>(DTypeSize(p.dtype));
  const int vec_elems = 16 / elem;
  const bool half_type = p.dtype == DType::kF16 || p.dtype == DType::kBF16;
  const bool mma_ok = half_type && aligned &&
                      (p.head_dim == 32 || p.head_dim == 64 || p.head_dim == 128);
  const bool decode_ok = (half_type || p.dtype == DType::kF32) && aligned &&
                         p.head_dim % vec_elems == 0;

  if (p.probs != nullptr) {
    plan.reference = true;
  } else if (n_multi == 0 && decode_ok) {
    plan.decode = true;
  } else if (n_single == 0 && mma_ok) {
    plan.prefill = true;
  } else if (mma_ok && decode_ok) {
    plan.decode = true;
    plan.prefill = true;
  } else {
    plan.reference = true;
  }

  if (plan.decode) {
    const int group = p.num_heads / p.num_kv_heads;
    plan.decode_head_group = NextPow2(std::min(group, 8));
    plan.decode_head_chunks = (group + plan.decode_head_group - 1) / plan.decode_head_group;
    plan.decode_keys_per_thread_group = std::min(32, NextPow2(p.head_dim / vec_elems));
    // Splits: one split length for the whole batch (long contexts get more splits than short
    // ones, so CTAs carry similar work), chosen so that the batch makes about four CTAs per SM;
    // at least one chunk per split, at most kDecodeMaxSplits splits, and a workspace of at most
    // kMaxDecodeWorkspace (a batch mixing one very long context with many short ones would
    // otherwise reserve partials for splits the short ones never use).
    constexpr size_t kMaxDecodeWorkspace = size_t{64} << 20;
    const int64_t chunk = attn::kDecodeChunk;
    auto round_chunk = [&](int64_t x) {
      return std::max<int64_t>(1, (x + chunk - 1) / chunk) * chunk;
    };
    const int64_t max_ctx = std::max(max_ctx_single, 1);
    const int64_t ctas_per_key_range =
        static_cast<int64_t>(p.num_kv_heads) * plan.decode_head_chunks;
    const int64_t target_ctas = 4LL * attn::SmCount();
    const int64_t work = total_keys_single * ctas_per_key_range;  // CTA-keys with one split each
    int64_t split_len = round_chunk((work + target_ctas - 1) / target_ctas);
    split_len = std::max(split_len, round_chunk((max_ctx + attn::kDecodeMaxSplits - 1) /
                                                attn::kDecodeMaxSplits));
    auto workspace_for = [&](int64_t splits) {
      return splits <= 1 ? size_t{0}
                         : static_cast<size_t>(p.num_seqs) * p.num_heads * splits *
                               (p.head_dim + 2) * sizeof(float);
    };
    auto splits_for = [&](int64_t len) { return (max_ctx + len - 1) / len; };
    const size_t ws_limit = std::min(workspace_bytes, kMaxDecodeWorkspace);
    while (splits_for(split_len) > 1 && workspace_for(splits_for(split_len)) > ws_limit) {
      split_len = splits_for(split_len) == 2 ? round_chunk(max_ctx) : split_len * 2;
    }
    if (split_len >= max_ctx) split_len = round_chunk(max_ctx);
    const int splits = static_cast<int>(splits_for(split_len));
    const size_t ws = workspace_for(splits);
    plan.decode_splits = splits;
    plan.decode_split_len = static_cast<int>(split_len);
    plan.workspace_bytes = ws;
  }
  if (plan.prefill) {
    const int last = p.num_seqs - 1;
    const int first_row = p.cu_seqlens_q_host[last];
    const int last_len = p.cu_seqlens_q_host[last + 1] - first_row;
    plan.prefill_virtual_tiles = last + first_row / attn::kPrefillBlockM +
                                 (last_len + attn::kPrefillBlockM - 1) / attn::kPrefillBlockM;
    plan.prefill_virtual_tiles = std::max(plan.prefill_virtual_tiles, 1);
  }
  return plan;
}

size_t AttentionWorkspaceBytes(const AttentionParams& p) {
  return PlanAttention(p).workspace_bytes;
}

void Attention(const AttentionParams& p, void* workspace, size_t workspace_bytes,
               cudaStream_t stream) {
  const AttentionPlan plan = PlanAttention(p, workspace != nullptr ? workspace_bytes : 0);
  if (plan.empty) return;
  if (plan.reference) {
    attn::LaunchReference(p, plan.total_q, stream);
    return;
  }
  if (plan.decode) attn::LaunchDecode(p, plan, workspace, stream);
  if (plan.prefill) attn::LaunchPrefill(p, plan, /*skip_single_rows=*/plan.decode, stream);
}

}  // namespace infer::kernels::cuda
