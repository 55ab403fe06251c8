#include "server/tasks/attention_capture.h"

#include "absl/strings/str_cat.h"
#include "server/model/forward_capture.h"

namespace infer::tasks {

absl::StatusOr<AttentionMaps> CaptureAttention(TaskModel& model, std::span<const int32_t> ids,
                                               std::span<const int32_t> type_ids) {
  if (ids.empty()) return absl::InvalidArgumentError("nothing to explain: no tokens");
  if (ids.size() > static_cast<size_t>(model.max_input_tokens())) {
    return absl::InvalidArgumentError(absl::StrCat(ids.size(), " tokens exceed the model's ",
                                                   model.max_input_tokens(), "-token context"));
  }
  const model::ModelInfo& info = model.info();
  model::ForwardCapture cap;
  cap.want_attentions = true;
  if (runtime::LmEngine* lm = model.lm()) {
    absl::StatusOr<runtime::SeqId> seq = lm->NewSequence();
    if (!seq.ok()) return seq.status();
    runtime::StepItem item{*seq, std::vector<int32_t>(ids.begin(), ids.end())};
    runtime::StepOptions opt;
    opt.capture = &cap;
    runtime::StepOutput out;
    absl::Status s = lm->StepEx({&item, 1}, opt, &out);
    lm->Release(*seq);
    if (!s.ok()) return s;
  } else {
    model::EncoderBatch batch;
    batch.tokens.assign(ids.begin(), ids.end());
    batch.type_ids.assign(type_ids.begin(), type_ids.end());
    batch.cu_seqlens = {0, static_cast<int32_t>(ids.size())};
    model::EncoderOutput out;
    absl::Status s = model.encoder()->Forward(batch, &cap, &out);
    if (!s.ok()) return s;
  }
  AttentionMaps m;
  m.layers = info.num_layers;
  m.heads = info.num_heads;
  m.tokens = static_cast<int>(ids.size());
  const size_t per_layer = static_cast<size_t>(m.heads) * m.tokens * m.tokens;
  if (cap.attentions.size() != static_cast<size_t>(m.layers)) {
    return absl::InternalError("attention capture returned the wrong number of layers");
  }
  for (auto& a : cap.attentions) {
    if (a.size() != per_layer) return absl::InternalError("attention capture has the wrong size");
    m.maps.push_back(std::move(a));
  }
  return m;
}

}  // namespace infer::tasks
