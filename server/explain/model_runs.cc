#include "server/explain/model_runs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::explain {
namespace {

// Rows per forward when pooling a batch of texts: bounds the capture's memory
// (layers x rows x hidden floats) whatever the number of texts.
constexpr int64_t kMaxPoolRows = 2048;

absl::Status CheckLength(tasks::TaskModel& model, size_t n) {
  if (n == 0) return absl::InvalidArgumentError("nothing to explain: no tokens");
  const int limit = model.causal() ? model.info().max_positions : model.max_input_tokens();
  if (n > static_cast<size_t>(limit)) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " tokens exceed the model's ", limit, "-token context"));
  }
  return absl::OkStatus();
}

// Runs fresh sequences of `inputs` as one causal batch with `options`, then releases them.
absl::Status CausalBatch(runtime::LmEngine& lm, std::span<const std::vector<int32_t>> inputs,
                         const runtime::StepOptions& options, runtime::StepOutput* out) {
  std::vector<runtime::StepItem> items;
  absl::Status status;
  for (const auto& ids : inputs) {
    absl::StatusOr<runtime::SeqId> seq = lm.NewSequence();
    if (!seq.ok()) {
      status = seq.status();
      break;
    }
    items.push_back({*seq, ids});
  }
  if (status.ok()) status = lm.StepEx(items, options, out);
  for (const runtime::StepItem& item : items) lm.Release(item.seq);
  return status;
}

}  // namespace

absl::StatusOr<model::ForwardCapture> CaptureForward(tasks::TaskModel& model,
                                                     std::span<const int32_t> ids,
                                                     std::span<const int32_t> type_ids,
                                                     const CaptureWants& wants) {
  INFER_RETURN_IF_ERROR(CheckLength(model, ids.size()));
  model::ForwardCapture cap;
  cap.want_attentions = wants.attentions;
  cap.want_qkv = wants.qkv;
  cap.want_hidden_states = wants.hidden;
  if (runtime::LmEngine* lm = model.lm()) {
    std::vector<int32_t> input(ids.begin(), ids.end());
    runtime::StepOptions opt;
    opt.capture = &cap;
    runtime::StepOutput out;
    INFER_RETURN_IF_ERROR(CausalBatch(*lm, {&input, 1}, opt, &out));
  } else {
    model::EncoderBatch batch;
    batch.tokens.assign(ids.begin(), ids.end());
    batch.type_ids.assign(type_ids.begin(), type_ids.end());
    batch.cu_seqlens = {0, static_cast<int32_t>(ids.size())};
    model::EncoderOutput out;
    INFER_RETURN_IF_ERROR(model.encoder()->Forward(batch, &cap, &out));
  }
  const size_t layers = static_cast<size_t>(model.info().num_layers);
  if ((wants.attentions && cap.attentions.size() != layers) ||
      (wants.qkv && cap.queries.size() != layers) ||
      (wants.hidden && cap.hidden.size() != layers + 1)) {
    return absl::InternalError("forward capture returned the wrong number of layers");
  }
  return cap;
}

absl::StatusOr<std::vector<float>> NextTokenLogits(tasks::TaskModel& model,
                                                   std::span<const int32_t> ids) {
  runtime::LmEngine* lm = model.lm();
  if (!lm) return absl::FailedPreconditionError("next-token logits need a causal LM");
  INFER_RETURN_IF_ERROR(CheckLength(model, ids.size()));
  std::vector<int32_t> input(ids.begin(), ids.end());
  runtime::StepOutput out;
  INFER_RETURN_IF_ERROR(CausalBatch(*lm, {&input, 1}, {}, &out));
  return std::move(out.logits);
}

absl::StatusOr<std::vector<float>> PooledStates(tasks::TaskModel& model,
                                                const std::vector<PoolInput>& inputs, int layer,
                                                Pooling pooling) {
  const model::ModelInfo& info = model.info();
  if (layer < 0 || layer > info.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", layer, " is out of range [0, ", info.num_layers, "]"));
  }
  const int64_t hidden = info.hidden_size;
  std::vector<float> pooled;
  pooled.reserve(inputs.size() * hidden);
  size_t begin = 0;
  while (begin < inputs.size()) {
    // A chunk of whole inputs of at most kMaxPoolRows rows (at least one input).
    size_t end = begin;
    int64_t rows = 0;
    while (end < inputs.size() &&
           (end == begin || rows + static_cast<int64_t>(inputs[end].ids.size()) <= kMaxPoolRows)) {
      INFER_RETURN_IF_ERROR(CheckLength(model, inputs[end].ids.size()));
      rows += static_cast<int64_t>(inputs[end].ids.size());
      ++end;
    }
    model::ForwardCapture cap;
    cap.want_hidden_states = true;
    if (runtime::LmEngine* lm = model.lm()) {
      std::vector<std::vector<int32_t>> ids;
      for (size_t i = begin; i < end; ++i) ids.push_back(inputs[i].ids);
      runtime::StepOptions opt;
      opt.capture = &cap;
      runtime::StepOutput out;
      INFER_RETURN_IF_ERROR(CausalBatch(*lm, ids, opt, &out));
    } else {
      model::EncoderBatch batch;
      batch.cu_seqlens.push_back(0);
      for (size_t i = begin; i < end; ++i) {
        const PoolInput& in = inputs[i];
        batch.tokens.insert(batch.tokens.end(), in.ids.begin(), in.ids.end());
        if (in.type_ids.empty()) {
          batch.type_ids.insert(batch.type_ids.end(), in.ids.size(), 0);
        } else {
          batch.type_ids.insert(batch.type_ids.end(), in.type_ids.begin(), in.type_ids.end());
        }
        batch.cu_seqlens.push_back(static_cast<int32_t>(batch.tokens.size()));
      }
      model::EncoderOutput out;
      INFER_RETURN_IF_ERROR(model.encoder()->Forward(batch, &cap, &out));
    }
    if (cap.hidden.size() != static_cast<size_t>(info.num_layers) + 1 ||
        cap.hidden[layer].size() != static_cast<size_t>(rows * hidden)) {
      return absl::InternalError("forward capture returned hidden states of the wrong size");
    }
    const float* states = cap.hidden[layer].data();
    int64_t row = 0;
    for (size_t i = begin; i < end; ++i) {
      const PoolInput& in = inputs[i];
      const int64_t n = static_cast<int64_t>(in.ids.size());
      std::vector<int64_t> use;
      if (pooling == Pooling::kFirst) {
        use.push_back(0);
      } else if (pooling == Pooling::kLast) {
        use.push_back(n - 1);
      } else {
        for (int64_t t = 0; t < n; ++t) {
          if (static_cast<size_t>(t) >= in.special.size() || !in.special[t]) use.push_back(t);
        }
        if (use.empty()) {
          for (int64_t t = 0; t < n; ++t) use.push_back(t);
        }
      }
      std::vector<double> acc(hidden, 0.0);
      for (int64_t t : use) {
        const float* r = states + (row + t) * hidden;
        for (int64_t c = 0; c < hidden; ++c) acc[c] += r[c];
      }
      for (int64_t c = 0; c < hidden; ++c) {
        pooled.push_back(static_cast<float>(acc[c] / static_cast<double>(use.size())));
      }
      row += n;
    }
    begin = end;
  }
  return pooled;
}

}  // namespace infer::explain
