// The op interface every compute backend implements. Model architectures compose these ops and
// nothing else, so a model runs unchanged on the CPU (the numerical reference) or on CUDA.
//
// Conventions: activations are [rows, features] row-major; weights of linear layers are stored
// [out_features, in_features] (PyTorch nn.Linear layout; loaders transpose Conv1D weights).
//
// Types: a backend stores weights, activations and the KV cache in its ActivationDType() (float32
// on the CPU; bfloat16, float16 or float32 on CUDA) and does all arithmetic in float32. Host code
// reads and writes backend tensors as float32 through CopyToHostF32 / CopyFromHostF32.
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
// Pointers without a _host suffix are backend memory (device memory on CUDA).
struct AttentionParams {
  DType dtype = DType::kF32;     // element type of q, out, k, v and the caches
  const void* q = nullptr;       // [total_q, num_heads, head_dim]
  void* out = nullptr;           // [total_q, num_heads, head_dim]
  // Contiguous K/V (encoders, no cache).
  const void* k = nullptr;       // [total_q, num_kv_heads, head_dim]
  const void* v = nullptr;       // [total_q, num_kv_heads, head_dim]
  // Paged K/V.
  const void* k_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const void* v_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  int block_size = 0;

  const int32_t* cu_seqlens_q = nullptr;  // [num_seqs + 1]
  const int32_t* context_lens = nullptr;  // [num_seqs]: keys visible to the last query
  // Host copies of the two arrays above (the same pointers on the CPU backend): CUDA plans its
  // launch (decode or prefill kernel, grid, KV splits) from them without reading device memory.
  const int32_t* cu_seqlens_q_host = nullptr;
  const int32_t* context_lens_host = nullptr;
  int num_seqs = 0;
  int num_heads = 0;
  int num_kv_heads = 0;  // num_heads % num_kv_heads == 0 (GQA)
  int head_dim = 0;
  float scale = 1.0f;    // multiplies q.k
  bool causal = true;    // query i of a chunk sees keys [0, context_len - q_len + i]

  // Optional capture for explanations: the softmax probabilities of sequence s are written at
  // probs + probs_offsets[s], laid out [num_heads, q_len, context_len]. Always float32.
  float* probs = nullptr;
  const int64_t* probs_offsets = nullptr;  // [num_seqs], backend memory
};

// Writes new keys/values into the paged cache: row i goes to slot slot_mapping[i]
// (block = slot / block_size, offset = slot % block_size). vLLM calls this reshape_and_cache.
struct KvWriteParams {
  DType dtype = DType::kF32;            // of k, v and the caches
  const void* k = nullptr;              // [num_tokens, num_kv_heads, head_dim]
  const void* v = nullptr;              // [num_tokens, num_kv_heads, head_dim]
  void* k_cache = nullptr;              // [num_blocks, block_size, num_kv_heads, head_dim]
  void* v_cache = nullptr;
  const int32_t* slot_mapping = nullptr;  // [num_tokens]
  int num_tokens = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
};

// Rotary position embedding (RoPE) applied in place to q and k rows, for Llama-style models.
// Pairs are (i, i + rotary_dim/2) in the first rotary_dim features of each head ("neox" layout,
// transformers' rotate_half) or adjacent (2i, 2i+1) when interleaved (GPT-J layout);
// inv_freq[i] = base^(-2i/rotary_dim).
struct RotaryParams {
  DType dtype = DType::kF32;
  void* q = nullptr;                   // [num_tokens, num_heads, head_dim]
  void* k = nullptr;                   // [num_tokens, num_kv_heads, head_dim]
  const int32_t* positions = nullptr;  // [num_tokens], backend memory
  int num_tokens = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int rotary_dim = 0;                  // even, <= head_dim
  float base = 10000.0f;
  bool interleaved = false;
};

// Device-side token choice for one row of next-token logits, the transformers order:
// repetition penalty over `history`, then (sampling only) temperature, top-k, top-p, min-p, then
// argmax (greedy) or one draw from the softmax with a counter-based generator: Philox4x32-10
// keyed by `seed`, counter `step`, so the same (seed, step) draws the same token on every backend.
struct SampleRow {
  bool greedy = true;
  float temperature = 1.0f;
  int top_k = 0;        // 0: off
  float top_p = 1.0f;   // 1: off
  float min_p = 0.0f;   // 0: off
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
  uint64_t step = 0;
  int64_t history_begin = 0;  // range of SampleParams::history_host holding this row's tokens
  int64_t history_end = 0;
};

struct SampleParams {
  const float* logits = nullptr;  // [rows, vocab], backend memory; not modified
  int rows = 0;
  int vocab = 0;
  const SampleRow* rows_host = nullptr;        // [rows]
  const int32_t* history_host = nullptr;       // tokens the repetition penalty sees
  int num_logprobs = 0;                        // top log-probabilities per row, <= 32
  // Host outputs. logprob is log_softmax of the processed scores at the chosen token (what
  // transformers' compute_transition_scores(normalize_logits=True) gives); top_* are the
  // num_logprobs best tokens of the same distribution, best first.
  int32_t* tokens_host = nullptr;      // [rows]
  float* logprobs_host = nullptr;      // [rows], may be null
  int32_t* top_tokens_host = nullptr;  // [rows, num_logprobs], may be null
  float* top_logprobs_host = nullptr;  // [rows, num_logprobs], may be null
};

// Memory facts a backend reports so the KV cache can be sized from what is free.
struct MemoryInfo {
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // The element type this backend keeps activations, weights and the KV cache in.
  virtual DType ActivationDType() const { return DType::kF32; }
  // Device memory (CUDA); nullopt-like {0, 0} for host memory, whose budget is a flag.
  virtual MemoryInfo Memory() const { return {}; }
  // Waits for all queued work (no-op on the CPU).
  virtual void Synchronize() {}

  // The defaults of the non-pure methods below compose other ops and work on any backend.

  // Memory. Alloc leaves the contents undefined. Out of memory throws std::bad_alloc (with the
  // sizes in what() on CUDA).
  virtual Tensor Alloc(std::vector<int64_t> shape, DType dtype = DType::kF32) = 0;
  virtual Tensor Zeros(std::vector<int64_t> shape, DType dtype = DType::kF32) = 0;
  // An activation-typed tensor (ActivationDType()).
  Tensor AllocActivation(std::vector<int64_t> shape) {
    return Alloc(std::move(shape), ActivationDType());
  }
  // Host <-> backend copies of whole tensors (same element count and dtype).
  virtual void CopyFromHost(const void* src, Tensor& dst) = 0;
  virtual void CopyToHost(const Tensor& src, void* dst) = 0;
  virtual void Copy(const Tensor& src, Tensor& dst) = 0;
  // The same, converting between float32 on the host and dst/src's own dtype (F32/F16/BF16).
  virtual void CopyFromHostF32(const float* src, Tensor& dst);
  virtual void CopyToHostF32(const Tensor& src, float* dst);
  // A weight from float32 host data, stored in ActivationDType().
  virtual Tensor UploadWeight(const float* host, std::vector<int64_t> shape);

  // y[M,N] = act(x[M,K] * w[N,K]^T + bias[N]). y may be float32 where x is not (logits).
  virtual void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                      Tensor& y) = 0;
  // Elementwise activation in place.
  virtual void Activate(Tensor& x, Activation act) = 0;
  // y[rows, n] = act(x[:, :n]) * x[:, n:] for x [rows, 2n] (Llama's SiLU-gated MLP with the gate
  // and up projections computed as one GEMM).
  virtual void GatedActivate(const Tensor& x, Activation act, Tensor& y) = 0;
  // y = LayerNorm(x) * gamma + beta over the last dimension. y may alias x. beta may be empty.
  virtual void LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                         Tensor& y) = 0;
  // x += h, then y = LayerNorm(x): the residual add fused with the next norm. y may alias h.
  virtual void AddLayerNorm(Tensor& x, const Tensor& h, const Tensor& gamma, const Tensor& beta,
                            float eps, Tensor& y);
  // y = x / sqrt(mean(x^2) + eps) * gamma (Llama's RMSNorm). y may alias x.
  virtual void RmsNorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y) = 0;
  // x += h, then y = RmsNorm(x). y may alias h.
  virtual void AddRmsNorm(Tensor& x, const Tensor& h, const Tensor& gamma, float eps, Tensor& y);
  // x += y (same shape).
  virtual void AddInPlace(Tensor& x, const Tensor& y) = 0;
  // out[i,:] (+)= table[ids[i],:]; ids is a host array of n ids already range-checked.
  virtual void Embedding(const Tensor& table, const int32_t* ids, int64_t n, bool accumulate,
                         Tensor& out) = 0;
  // out[i,:] = x[rows[i],:]
  virtual void GatherRows(const Tensor& x, const std::vector<int32_t>& rows, Tensor& out) = 0;
  virtual void Attention(const AttentionParams& p) = 0;
  virtual void WriteKv(const KvWriteParams& p) = 0;
  virtual void Rotary(const RotaryParams& p) = 0;
  // Chooses one token per row of float32 logits (see SampleRow); only ids and log-probabilities
  // come back to the host.
  virtual void SampleTokens(const SampleParams& p) = 0;
};

std::unique_ptr<Backend> MakeCpuBackend();

// The CUDA backend (kernels/cuda). Built whenever nvcc was found at configure time.
struct CudaBackendOptions {
  int device = 0;
  DType dtype = DType::kBF16;  // weights, activations and the KV cache: F32, F16 or BF16
};
bool CudaBackendBuilt();
// Visible CUDA devices; 0 without a driver, a device, or CUDA in the build.
int CudaDeviceCount();
// nullptr with *error saying why (no CUDA in this build, no such device, driver too old, ...).
std::unique_ptr<Backend> MakeCudaBackend(const CudaBackendOptions& options, std::string* error);

}  // namespace infer::kernels
