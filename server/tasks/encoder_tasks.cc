#include "server/tasks/encoder_tasks.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "server/tasks/pooling.h"
#include "server/util/status_macros.h"

namespace infer::tasks {

absl::Status RunEncoder(model::EncoderModel& m, std::span<const TokenizedInput> inputs,
                        const EncoderVisitor& visit, int64_t max_batch_tokens) {
  const int64_t hidden = m.info().hidden_size;
  const int labels = m.has_classifier() ? m.info().num_labels : 0;
  size_t begin = 0;
  while (begin < inputs.size()) {
    model::EncoderBatch batch;
    batch.cu_seqlens.push_back(0);
    bool any_types = false;
    size_t end = begin;
    while (end < inputs.size() &&
           (end == begin || static_cast<int64_t>(batch.tokens.size() + inputs[end].ids.size()) <=
                                max_batch_tokens)) {
      any_types |= !inputs[end].type_ids.empty();
      batch.tokens.insert(batch.tokens.end(), inputs[end].ids.begin(), inputs[end].ids.end());
      batch.cu_seqlens.push_back(static_cast<int32_t>(batch.tokens.size()));
      ++end;
    }
    if (any_types) {
      for (size_t i = begin; i < end; ++i) {
        const TokenizedInput& in = inputs[i];
        if (in.type_ids.empty()) {
          batch.type_ids.insert(batch.type_ids.end(), in.ids.size(), 0);
        } else if (in.type_ids.size() != in.ids.size()) {
          return absl::InvalidArgumentError("token type ids and token ids differ in length");
        } else {
          batch.type_ids.insert(batch.type_ids.end(), in.type_ids.begin(), in.type_ids.end());
        }
      }
    }
    model::EncoderOutput out;
    INFER_RETURN_IF_ERROR(m.Forward(batch, nullptr, &out));
    for (size_t i = begin; i < end; ++i) {
      const int s = static_cast<int>(i - begin);
      const int64_t b = batch.cu_seqlens[s], e = batch.cu_seqlens[s + 1];
      std::span<const float> states(out.last_hidden.data() + b * hidden, (e - b) * hidden);
      std::span<const float> logits;
      if (labels > 0) logits = std::span<const float>(out.class_logits.data() + s * labels, labels);
      visit(i, states, logits);
    }
    begin = end;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<float>>> EmbedTokens(
    model::EncoderModel& m, std::span<const TokenizedInput> inputs, model::PoolingMode mode,
    bool normalize) {
  const int64_t hidden = m.info().hidden_size;
  std::vector<std::vector<float>> result(inputs.size());
  INFER_RETURN_IF_ERROR(RunEncoder(
      m, inputs, [&](size_t i, std::span<const float> states, std::span<const float>) {
        result[i] = EmbedStates(states, hidden, mode, normalize);
      }));
  return result;
}

std::vector<float> EmbedStates(std::span<const float> states, int64_t hidden,
                               model::PoolingMode mode, bool normalize) {
  std::vector<float> v = Pool(states, static_cast<int64_t>(states.size()) / hidden, hidden, mode);
  if (normalize) L2Normalize(v);
  return v;
}

ClassScores ScoreLogits(std::span<const float> logits, bool multi_label) {
  ClassScores s;
  s.logits.assign(logits.begin(), logits.end());
  s.probs = multi_label ? Sigmoid(logits) : Softmax(logits);
  return s;
}

absl::StatusOr<std::vector<ClassScores>> ClassifyTokens(model::EncoderModel& m,
                                                        std::span<const TokenizedInput> inputs) {
  if (!m.has_classifier()) {
    return absl::FailedPreconditionError("the model has no sequence-classification head");
  }
  std::vector<ClassScores> result(inputs.size());
  const bool multi = m.info().multi_label;
  INFER_RETURN_IF_ERROR(RunEncoder(
      m, inputs, [&](size_t i, std::span<const float>, std::span<const float> logits) {
        result[i] = ScoreLogits(logits, multi);
      }));
  return result;
}

std::vector<float> Softmax(std::span<const float> logits) {
  std::vector<float> p(logits.begin(), logits.end());
  if (p.empty()) return p;
  const float mx = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (float& v : p) {
    v = std::exp(v - mx);
    sum += v;
  }
  for (float& v : p) v = static_cast<float>(v / sum);
  return p;
}

std::vector<float> Sigmoid(std::span<const float> logits) {
  std::vector<float> p(logits.begin(), logits.end());
  for (float& v : p) v = 1.0f / (1.0f + std::exp(-v));
  return p;
}

}  // namespace infer::tasks
