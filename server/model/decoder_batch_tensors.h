// Pieces every decoder architecture shares: checking a batch before it touches memory, moving its
// index arrays to the backend, paged attention for one layer, capture, and the LM-head epilogue.
#pragma once

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

  // Writes k/v of the new tokens into layer `layer` of the cache, then attends.
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

}  // namespace infer::model
