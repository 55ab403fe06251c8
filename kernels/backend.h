// The op interface every compute backend implements. Model architectures compose these ops and
// nothing else, so a model runs unchanged on the CPU (the numerical reference) or on CUDA.
//
// Conventions: activations are [rows, features] row-major; weights of linear layers are stored
// [out_features, in_features] (PyTorch nn.Linear layout; loaders transpose Conv1D weights).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/tensor.h"

namespace infer::kernels {

enum class Activation : uint8_t {
  kNone,
  kGeluTanh,  // "gelu_new" / "gelu_pytorch_tanh": 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
  kGeluErf,   // "gelu": 0.5x(1+erf(x/sqrt(2)))
  kRelu,
  kSilu,
  kTanh,
};

// Attention over variable-length packed sequences (FlashAttention's varlen layout).
// Queries of sequence s are rows [cu_seqlens_q[s], cu_seqlens_q[s+1]) of q; they are the last
// q_len positions of a context of context_lens[s] keys (so a prefill chunk or a decode token).
// Keys/values come either from a paged cache (block_tables != nullptr) or, for encoders, from
// contiguous packed k/v laid out like q with cu_seqlens_q (context_lens[s] == q_len then).
struct AttentionParams {
  const float* q = nullptr;      // [total_q, num_heads, head_dim]
  float* out = nullptr;          // [total_q, num_heads, head_dim]
  // Contiguous K/V (encoders, no cache).
  const float* k = nullptr;      // [total_q, num_kv_heads, head_dim]
  const float* v = nullptr;      // [total_q, num_kv_heads, head_dim]
  // Paged K/V.
  const float* k_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const float* v_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  int block_size = 0;

  const int32_t* cu_seqlens_q = nullptr;  // [num_seqs + 1], host-visible on the CPU backend
  const int32_t* context_lens = nullptr;  // [num_seqs]: keys visible to the last query
  int num_seqs = 0;
  int num_heads = 0;
  int num_kv_heads = 0;  // num_heads % num_kv_heads == 0 (GQA)
  int head_dim = 0;
  float scale = 1.0f;    // multiplies q.k
  bool causal = true;    // query i of a chunk sees keys [0, context_len - q_len + i]

  // Optional capture for explanations: the softmax probabilities of sequence s are written at
  // probs + probs_offsets[s], laid out [num_heads, q_len, context_len].
  float* probs = nullptr;
  const int64_t* probs_offsets = nullptr;  // [num_seqs]
};

// Writes new keys/values into the paged cache: row i goes to slot slot_mapping[i]
// (block = slot / block_size, offset = slot % block_size). vLLM calls this reshape_and_cache.
struct KvWriteParams {
  const float* k = nullptr;             // [num_tokens, num_kv_heads, head_dim]
  const float* v = nullptr;             // [num_tokens, num_kv_heads, head_dim]
  float* k_cache = nullptr;             // [num_blocks, block_size, num_kv_heads, head_dim]
  float* v_cache = nullptr;
  const int32_t* slot_mapping = nullptr;  // [num_tokens]
  int num_tokens = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory. Alloc leaves the contents undefined.
  virtual Tensor Alloc(std::vector<int64_t> shape, DType dtype = DType::kF32) = 0;
  virtual Tensor Zeros(std::vector<int64_t> shape, DType dtype = DType::kF32) = 0;
  // Host <-> backend copies of whole tensors (same element count and dtype).
  virtual void CopyFromHost(const void* src, Tensor& dst) = 0;
  virtual void CopyToHost(const Tensor& src, void* dst) = 0;
  virtual void Copy(const Tensor& src, Tensor& dst) = 0;

  // y[M,N] = act(x[M,K] * w[N,K]^T + bias[N])
  virtual void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                      Tensor& y) = 0;
  // Elementwise activation in place.
  virtual void Activate(Tensor& x, Activation act) = 0;
  // y = LayerNorm(x) * gamma + beta over the last dimension. y may alias x.
  virtual void LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                         Tensor& y) = 0;
  // x += y (same shape).
  virtual void AddInPlace(Tensor& x, const Tensor& y) = 0;
  // out[i,:] (+)= table[ids[i],:]; ids is a host array of n ids already range-checked.
  virtual void Embedding(const Tensor& table, const int32_t* ids, int64_t n, bool accumulate,
                         Tensor& out) = 0;
  // out[i,:] = x[rows[i],:]
  virtual void GatherRows(const Tensor& x, const std::vector<int32_t>& rows, Tensor& out) = 0;
  virtual void Attention(const AttentionParams& p) = 0;
  virtual void WriteKv(const KvWriteParams& p) = 0;
};

std::unique_ptr<Backend> MakeCpuBackend();

}  // namespace infer::kernels
