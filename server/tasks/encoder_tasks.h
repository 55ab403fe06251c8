// Embedding and sequence classification over already-tokenized inputs: packs inputs into
// encoder batches and turns their outputs into vectors and label probabilities.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/encoder_model.h"
#include "server/model/pooling_config.h"

namespace infer::tasks {

struct TokenizedInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // empty: all segment 0
};

// Runs the encoder over inputs in batches of at most max_batch_tokens tokens (at least one input
// per batch) and calls back with each input's last hidden states [tokens, hidden] and, where the
// model has them, the classifier logits [num_labels].
using EncoderVisitor = std::function<void(size_t index, std::span<const float> states,
                                          std::span<const float> class_logits)>;
absl::Status RunEncoder(model::EncoderModel& model, std::span<const TokenizedInput> inputs,
                        const EncoderVisitor& visit, int64_t max_batch_tokens = 8192);

absl::StatusOr<std::vector<std::vector<float>>> EmbedTokens(
    model::EncoderModel& model, std::span<const TokenizedInput> inputs, model::PoolingMode mode,
    bool normalize);

struct ClassScores {
  std::vector<float> logits;
  std::vector<float> probs;  // softmax, or element-wise sigmoid for multi-label models
};

// One input's sentence vector from its last hidden states [tokens, hidden]: pooling, then unit L2
// norm when `normalize`. EmbedTokens and TaskModel::FinishEmbed both use it, so embeddings made
// directly and through the encoder batcher are the same bits.
std::vector<float> EmbedStates(std::span<const float> states, int64_t hidden,
                               model::PoolingMode mode, bool normalize);
// One input's scores from its classifier logits [num_labels] (shared as EmbedStates is).
ClassScores ScoreLogits(std::span<const float> logits, bool multi_label);

// FAILED_PRECONDITION when the model has no classification head.
absl::StatusOr<std::vector<ClassScores>> ClassifyTokens(model::EncoderModel& model,
                                                        std::span<const TokenizedInput> inputs);

std::vector<float> Softmax(std::span<const float> logits);
std::vector<float> Sigmoid(std::span<const float> logits);

}  // namespace infer::tasks
