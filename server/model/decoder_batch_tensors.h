// Pieces every decoder architecture shares: checking a batch before it touches memory, moving its
// index arrays to the backend, paged attention for one layer, capture, and the LM-head epilogue.
#pragma once

#include <span>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "server/model/decoder_model.h"
#include "server/model/forward_capture.h"

namespace infer::model {

class CaptureRecorder;

// Every id in range, positions below max_positions, array sizes consistent.
absl::Status ValidateDecoderBatch(const DecoderBatch& batch, const ModelInfo& info);

class DecoderBatchTensors {
 public:
  DecoderBatchTensors(kernels::Backend* backend, const DecoderBatch& batch);

  // Writes k/v of the new tokens into layer `layer` of the cache, then attends. q,k,v are
  // recorded (ForwardCapture::want_qkv) as given: callers apply rotary embeddings first.
  // q,k,v: [total, heads*d] (k,v: kv_heads*d); out: [total, heads*d]; probs may be null.
  void RunPagedAttention(runtime::PagedKvCache& cache, int layer, const ModelInfo& info,
                         float scale, const kernels::Tensor& q, const kernels::Tensor& k,
                         const kernels::Tensor& v, kernels::Tensor& out,
                         CaptureRecorder& rec);

 private:
  kernels::Backend* be_;
  const DecoderBatch& batch_;
  kernels::Tensor cu_seqlens_, context_lens_, block_tables_, slots_;
};

// Records hidden states and attention probabilities into a ForwardCapture when one is given.
class CaptureRecorder {
 public:
  CaptureRecorder(kernels::Backend* backend, ForwardCapture* capture, int num_layers,
                  const std::vector<int32_t>& cu_seqlens, const std::vector<int32_t>& context_lens,
                  int num_heads);
  CaptureRecorder(kernels::Backend* backend, ForwardCapture* capture, int num_layers,
                  const DecoderBatch& batch, int num_heads)
      : CaptureRecorder(backend, capture, num_layers, batch.cu_seqlens, batch.context_lens,
                        num_heads) {}

  void Hidden(int index, const kernels::Tensor& x);
  // Host copies of one layer's q [total, heads*d], k and v [total, kv_heads*d] when asked.
  void Qkv(int layer, const kernels::Tensor& q, const kernels::Tensor& k,
           const kernels::Tensor& v);
  // Backend buffer the attention of `layer` writes its probabilities into, or null.
  float* AttentionBuffer(int layer);
  const int64_t* offsets() const { return offsets_dev_.empty() ? nullptr : offsets_dev_.as<int64_t>(); }
  void FinishAttention(int layer);

 private:
  kernels::Backend* be_;
  ForwardCapture* capture_;
  kernels::Tensor probs_;
  kernels::Tensor offsets_dev_;
};

// Copies final hidden states when asked and computes logits of batch.logit_rows with lm_head.
absl::Status FinishDecoderOutput(kernels::Backend* backend, const DecoderBatch& batch,
                                 const kernels::Tensor& final_hidden,
                                 const kernels::Tensor& lm_head, int vocab, DecoderOutput* out);

// Host copy of a backend weight stored [out, in] (the op layout), transposed to [in, out]: the
// layout explanations want for the attention output projection (rows = concatenated heads).
std::vector<float> TransposedToHost(kernels::Backend* backend, const kernels::Tensor& w);

// The logit lens' shared steps: CheckRows tests that states is [rows, width]; UploadRows copies
// them to the backend (rows > 0: backends need not allocate empty tensors); LmHeadLogits writes
// x . lm_head^T, [x rows, vocab], to the host.
absl::Status CheckRows(std::span<const float> states, int64_t rows, int64_t width);
kernels::Tensor UploadRows(kernels::Backend* backend, std::span<const float> states,
                           int64_t rows, int64_t width);
void LmHeadLogits(kernels::Backend* backend, const kernels::Tensor& x,
                  const kernels::Tensor& lm_head, int vocab, std::vector<float>* logits);

}  // namespace infer::model
