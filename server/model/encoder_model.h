// A bidirectional encoder (BERT, RoBERTa, DistilBERT) over packed variable-length sequences: no
// padding, so every sequence sees exactly its own tokens, as with Hugging Face's attention mask.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/model/forward_capture.h"
#include "server/model/model_folder.h"
#include "server/model/model_info.h"

namespace infer::model {

struct EncoderBatch {
  std::vector<int32_t> tokens;      // [total] sequences packed one after another
  std::vector<int32_t> type_ids;    // [total] segment ids; empty means all zero
  std::vector<int32_t> cu_seqlens;  // [num_seqs + 1]
  int num_seqs() const { return static_cast<int>(cu_seqlens.size()) - 1; }
};

struct EncoderOutput {
  std::vector<float> last_hidden;   // [total, hidden]
  std::vector<float> pooled;        // [num_seqs, hidden], BERT's pooler (tanh); empty without
  std::vector<float> class_logits;  // [num_seqs, num_labels] when the folder has a head
};

class EncoderModel {
 public:
  virtual ~EncoderModel() = default;
  virtual const ModelInfo& info() const = 0;
  // Longest sequence the position table allows (RoBERTa reserves pad_token_id + 1 slots).
  virtual int max_tokens() const = 0;
  virtual bool has_classifier() const = 0;
  virtual absl::Status Forward(const EncoderBatch& batch, ForwardCapture* capture,
                               EncoderOutput* out) = 0;
  // As DecoderModel: the attention output projection [heads*head_dim, hidden] row-major (bias
  // excluded; INVALID_ARGUMENT for a layer out of range) and the factor q.k is multiplied by.
  virtual absl::StatusOr<std::vector<float>> AttentionOutputWeight(int layer) const = 0;
  virtual float AttentionScale(int layer) const = 0;
};

// BERT, RoBERTa (and XLM-R / CamemBERT, which share its layout) and DistilBERT folders.
absl::StatusOr<std::unique_ptr<EncoderModel>> LoadBertFamily(const ModelFolder& folder,
                                                             kernels::Backend* backend);

}  // namespace infer::model
