#include "server/api/explain_request.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

using infer::v1::ExplainMethod;
namespace pb = infer::v1;

// Rough bytes of one logit-lens candidate on the wire (id, probability, a short token text).
constexpr uint64_t kLensCandidateBytes = 16;
constexpr uint64_t kLensPositionBytes = 24;
constexpr int kMaxLensTopK = 100;

absl::StatusOr<std::vector<uint32_t>> Selection(
    const google::protobuf::RepeatedField<uint32_t>& field, uint32_t n, const char* name,
    const char* range_note = "") {
  std::vector<uint32_t> out;
  if (field.empty()) {
    for (uint32_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < field.size(); ++i) {
    if (field[i] >= n) {
      return absl::InvalidArgumentError(absl::StrCat(name, "[", i, "]: ", field[i],
                                                     " is out of range [0, ", n, ")", range_note));
    }
    if (seen.insert(field[i]).second) out.push_back(field[i]);
  }
  return out;
}

absl::StatusOr<tokenizer::Encoding> InputTokens(const pb::ExplainAttentionRequest& r,
                                                const tasks::TaskModel& model) {
  const bool has_text = !r.text().empty();
  const bool has_ids = r.token_ids_size() > 0;
  if (has_text == has_ids) {
    return absl::InvalidArgumentError("text: exactly one of text and token_ids must be set");
  }
  if (!r.text_pair().empty() && !has_text) {
    return absl::InvalidArgumentError("text_pair: needs text");
  }
  if (!r.text_pair().empty() && model.causal()) {
    return absl::InvalidArgumentError("text_pair: segments are for encoders; this model is causal");
  }
  const tokenizer::Tokenizer& tok = model.tokenizer();
  tokenizer::Encoding e;
  if (has_text) {
    e = r.text_pair().empty() ? tok.Encode(r.text()) : tok.EncodePair(r.text(), r.text_pair());
  } else {
    const int vocab = model.info().vocab_size;
    for (int i = 0; i < r.token_ids_size(); ++i) {
      const int32_t id = r.token_ids(i);
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token_ids[", i, "]: ", id, " is outside the vocabulary [0, ", vocab, ")"));
      }
      e.ids.push_back(id);
      e.tokens.push_back(tok.Decode(std::span<const int32_t>(&id, 1)));
      e.offsets.push_back({0, 0});
      e.special_mask.push_back(0);
      e.type_ids.push_back(0);
    }
  }
  if (e.ids.empty()) return absl::InvalidArgumentError("text: has no tokens");
  if (e.type_ids.size() != e.ids.size()) e.type_ids.assign(e.ids.size(), 0);
  return e;
}

absl::Status PlanMethods(const pb::ExplainAttentionRequest& r, const tasks::TaskModel& model,
                         ExplainPlan* plan) {
  std::set<int> seen;
  for (int i = 0; i < r.methods_size(); ++i) {
    const ExplainMethod m = r.methods(i);
    if (m == pb::EXPLAIN_METHOD_UNSPECIFIED || !pb::ExplainMethod_IsValid(m)) {
      return absl::InvalidArgumentError(
          absl::StrCat("methods[", i, "]: unknown method ", static_cast<int>(m)));
    }
    seen.insert(m);
  }
  if (seen.empty()) seen.insert(pb::EXPLAIN_METHOD_ATTENTION);
  for (int m : seen) plan->methods.push_back(static_cast<ExplainMethod>(m));
  if (!model.causal() && plan->Has(pb::EXPLAIN_METHOD_LOGIT_LENS)) {
    return absl::InvalidArgumentError(
        "methods: LOGIT_LENS needs a causal language model's final norm and LM head; this model "
        "is an encoder");
  }
  const bool attributions =
      plan->Has(pb::EXPLAIN_METHOD_OCCLUSION) || plan->Has(pb::EXPLAIN_METHOD_LIME);
  if (attributions && !model.causal() && model.info().num_labels <= 0) {
    return absl::InvalidArgumentError(
        "methods: OCCLUSION and LIME score a target; this encoder has no classification head "
        "(they work with causal LMs and sequence classifiers)");
  }
  return absl::OkStatus();
}

absl::Status PlanTarget(const pb::ExplainAttentionRequest& r, const tasks::TaskModel& model,
                        const service::ServiceLimits& limits, ExplainPlan* plan) {
  const pb::ExplainTarget& t = r.target();
  plan->generate_tokens = static_cast<int>(r.generate_tokens());
  if (plan->generate_tokens > 0 && !model.causal()) {
    return absl::InvalidArgumentError("generate_tokens: only causal LMs generate");
  }
  if (plan->generate_tokens > limits.max_new_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("generate_tokens: ", plan->generate_tokens,
                                                   " is over the server's limit of ",
                                                   limits.max_new_tokens));
  }
  pb::ExplainTargetKind kind = t.kind();
  if (!pb::ExplainTargetKind_IsValid(kind)) {
    return absl::InvalidArgumentError("target.kind: unknown kind");
  }
  if (kind == pb::EXPLAIN_TARGET_UNSPECIFIED) {
    if (model.causal()) {
      kind = plan->generate_tokens > 0 ? pb::EXPLAIN_TARGET_GENERATED
             : (!t.continuation().empty() || t.continuation_ids_size() > 0)
                 ? pb::EXPLAIN_TARGET_CONTINUATION
                 : pb::EXPLAIN_TARGET_NEXT_TOKEN;
    } else if (model.info().num_labels > 0) {
      kind = pb::EXPLAIN_TARGET_CLASS_LABEL;
    }
  }
  const bool lm_kind = kind == pb::EXPLAIN_TARGET_NEXT_TOKEN ||
                       kind == pb::EXPLAIN_TARGET_CONTINUATION ||
                       kind == pb::EXPLAIN_TARGET_GENERATED;
  if (lm_kind && !model.causal()) {
    return absl::InvalidArgumentError(
        "target.kind: next-token, continuation and generated targets need a causal LM");
  }
  if (kind == pb::EXPLAIN_TARGET_CLASS_LABEL &&
      (model.causal() || model.info().num_labels <= 0)) {
    return absl::InvalidArgumentError(
        "target.kind: CLASS_LABEL needs an encoder with a classification head");
  }
  if (kind == pb::EXPLAIN_TARGET_GENERATED && plan->generate_tokens == 0) {
    return absl::InvalidArgumentError("target.kind: GENERATED needs generate_tokens > 0");
  }
  if (kind != pb::EXPLAIN_TARGET_GENERATED && plan->generate_tokens > 0) {
    return absl::InvalidArgumentError(
        "generate_tokens: the generated tokens are the target; target.kind must be GENERATED or "
        "unset");
  }
  const bool has_cont = !t.continuation().empty() || t.continuation_ids_size() > 0;
  if (kind == pb::EXPLAIN_TARGET_CONTINUATION) {
    if (!t.continuation().empty() && t.continuation_ids_size() > 0) {
      return absl::InvalidArgumentError(
          "target: give continuation or continuation_ids, not both");
    }
    if (!has_cont) {
      return absl::InvalidArgumentError("target.continuation: CONTINUATION needs a text or ids");
    }
    if (!t.continuation().empty()) {
      plan->continuation = model.tokenizer().Encode(t.continuation(), false).ids;
      if (plan->continuation.empty()) {
        return absl::InvalidArgumentError("target.continuation: has no tokens");
      }
    } else {
      const int vocab = model.info().vocab_size;
      for (int i = 0; i < t.continuation_ids_size(); ++i) {
        const int32_t id = t.continuation_ids(i);
        if (id < 0 || id >= vocab) {
          return absl::InvalidArgumentError(absl::StrCat("target.continuation_ids[", i, "]: ", id,
                                                         " is outside the vocabulary [0, ",
                                                         vocab, ")"));
        }
        plan->continuation.push_back(id);
      }
    }
  } else if (has_cont) {
    return absl::InvalidArgumentError(
        "target.continuation: only for target.kind CONTINUATION");
  }
  if (kind == pb::EXPLAIN_TARGET_CLASS_LABEL && !t.label().empty()) {
    const model::ModelInfo& info = model.info();
    for (const auto& [id, name] : info.id2label) {
      if (name == t.label()) plan->label = static_cast<int>(id);
    }
    if (plan->label < 0) {
      int64_t index = -1;
      if (absl::SimpleAtoi(t.label(), &index) && index >= 0 && index < info.num_labels) {
        plan->label = static_cast<int>(index);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "target.label: \"", t.label(), "\" is neither a label name of this model nor an index "
            "in [0, ", info.num_labels, ")"));
      }
    }
  } else if (!t.label().empty()) {
    return absl::InvalidArgumentError("target.label: only for target.kind CLASS_LABEL");
  }
  plan->target = kind;
  return absl::OkStatus();
}

absl::Status PlanOptions(const pb::ExplainAttentionRequest& r, const tasks::TaskModel& model,
                         const service::ServiceLimits& limits, ExplainPlan* plan) {
  const model::ModelInfo& info = model.info();
  const pb::LogitLensOptions& lens = r.logit_lens();
  plan->lens_top_k = lens.top_k() == 0 ? 5 : static_cast<int>(lens.top_k());
  if (plan->lens_top_k > kMaxLensTopK) {
    return absl::InvalidArgumentError(
        absl::StrCat("logit_lens.top_k: at most ", kMaxLensTopK));
  }
  plan->lens_positions.assign(lens.positions().begin(), lens.positions().end());

  const pb::AttributionOptions& a = r.attribution();
  if (!pb::ExplainGranularity_IsValid(a.granularity())) {
    return absl::InvalidArgumentError("attribution.granularity: unknown value");
  }
  plan->granularity = a.granularity() == pb::EXPLAIN_GRANULARITY_WORD ? explain::Granularity::kWord
                      : a.granularity() == pb::EXPLAIN_GRANULARITY_SEGMENT
                          ? explain::Granularity::kSegment
                          : explain::Granularity::kToken;
  plan->lime.samples = a.samples() == 0 ? 64 : static_cast<int>(a.samples());
  if (plan->lime.samples < 2) {
    return absl::InvalidArgumentError("attribution.samples: LIME needs at least 2 samples");
  }
  plan->lime.seed = a.seed();
  plan->lime.kernel_width = a.kernel_width() == 0 ? 0.25 : a.kernel_width();
  plan->lime.ridge_alpha = a.ridge_alpha() == 0 ? 1.0 : a.ridge_alpha();
  if (!(plan->lime.kernel_width > 0) || !(plan->lime.ridge_alpha > 0)) {
    return absl::InvalidArgumentError(
        "attribution.kernel_width and ridge_alpha must be positive (0: default)");
  }
  const tokenizer::Tokenizer& tok = model.tokenizer();
  if (a.has_baseline_token_id()) {
    if (a.baseline_token_id() < 0 || a.baseline_token_id() >= info.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribution.baseline_token_id: ", a.baseline_token_id(),
                       " is outside the vocabulary [0, ", info.vocab_size, ")"));
    }
    plan->baseline_id = a.baseline_token_id();
  } else {
    plan->baseline_id = tok.mask().value_or(
        tok.pad().value_or(tok.unk().value_or(tok.eos().value_or(0))));
  }

  const pb::ProjectionOptions& p = r.projection();
  if (plan->Has(pb::EXPLAIN_METHOD_PROJECTION)) {
    plan->projection_dims = p.dims() == 0 ? 2 : static_cast<int>(p.dims());
    if (plan->projection_dims != 2 && plan->projection_dims != 3) {
      return absl::InvalidArgumentError("projection.dims: 2 or 3");
    }
    plan->projection_layer = p.has_layer() ? static_cast<int>(p.layer()) : info.num_layers;
    if (plan->projection_layer > info.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat("projection.layer: ", p.layer(),
                                                     " is out of range [0, ", info.num_layers,
                                                     "] (0 = embeddings)"));
    }
    if (!pb::ExplainPooling_IsValid(p.pooling())) {
      return absl::InvalidArgumentError("projection.pooling: unknown value");
    }
    plan->pooling = p.pooling() == pb::EXPLAIN_POOLING_FIRST  ? explain::Pooling::kFirst
                    : p.pooling() == pb::EXPLAIN_POOLING_LAST ? explain::Pooling::kLast
                                                              : explain::Pooling::kMean;
    if (p.texts_size() == 0) {
      return absl::InvalidArgumentError(
          "projection.texts: PROJECTION needs at least one more text to project with the input");
    }
    if (p.texts_size() + 1 > limits.max_batch) {
      return absl::InvalidArgumentError(absl::StrCat("projection.texts: at most ",
                                                     limits.max_batch - 1,
                                                     " texts (--max-batch)"));
    }
    const int max_tokens = std::min(limits.max_explain_tokens,
                                    model.causal() ? info.max_positions : model.max_input_tokens());
    plan->projection_texts.push_back(r.text().empty() ? "(token ids)" : r.text());
    plan->projection_inputs.push_back(
        {plan->input.ids, plan->input.type_ids,
         std::vector<uint8_t>(plan->input.special_mask.begin(), plan->input.special_mask.end())});
    for (int i = 0; i < p.texts_size(); ++i) {
      tokenizer::Encoding e = tok.Encode(p.texts(i));
      if (e.ids.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("projection.texts[", i, "]: has no tokens"));
      }
      if (e.ids.size() > static_cast<size_t>(max_tokens)) {
        return absl::InvalidArgumentError(absl::StrCat("projection.texts[", i, "]: ", e.ids.size(),
                                                       " tokens exceed the limit of ", max_tokens));
      }
      plan->projection_texts.push_back(p.texts(i));
      plan->projection_inputs.push_back(
          {e.ids, e.type_ids, std::vector<uint8_t>(e.special_mask.begin(), e.special_mask.end())});
    }
  } else if (p.texts_size() > 0) {
    return absl::InvalidArgumentError("projection.texts: only with method PROJECTION");
  }
  return absl::OkStatus();
}

uint64_t AttributionBytes(const ExplainPlan& plan, int64_t tokens) {
  const uint64_t targets = std::max<uint64_t>(1, tokens - plan.input_tokens);
  return static_cast<uint64_t>(tokens) * (targets + 2) * 4 + plan.features.count * 24 + 64;
}

// Bytes of the attention-shaped maps and query/key vectors of one layer.
uint64_t PerLayerBytes(const ExplainPlan& plan, const model::ModelInfo& info, int64_t tokens) {
  const uint64_t b = plan.float16 ? 2 : 4;
  const uint64_t rows = plan.query_rows.empty() ? tokens : plan.query_rows.size();
  const uint64_t cols = plan.top_k_keys > 0 ? std::min<uint64_t>(plan.top_k_keys, tokens) : tokens;
  const uint64_t entry = b + (plan.top_k_keys > 0 ? 4 : 0);
  const uint64_t map = rows * cols * entry;
  const uint64_t heads = plan.heads.size();
  uint64_t bytes = 0;
  if (plan.Has(pb::EXPLAIN_METHOD_ATTENTION)) bytes += heads * map;
  if (plan.Has(pb::EXPLAIN_METHOD_NORM_WEIGHTED)) bytes += (heads + 1) * map;
  if (plan.Has(pb::EXPLAIN_METHOD_ROLLOUT)) bytes += map;
  if (plan.Has(pb::EXPLAIN_METHOD_NEURON_VIEW)) {
    bytes += heads * static_cast<uint64_t>(tokens) * info.head_dim * 2 * b;
  }
  return bytes;
}

// Bytes that do not grow with the selected layers of attention-shaped maps.
uint64_t FixedBytes(const ExplainPlan& plan, int64_t tokens) {
  uint64_t bytes = 0;
  if (plan.Has(pb::EXPLAIN_METHOD_LOGIT_LENS)) {
    const uint64_t positions =
        plan.lens_positions.empty() ? std::max<int64_t>(1, tokens - plan.input_tokens)
                                    : plan.lens_positions.size();
    bytes += plan.layers.size() * positions *
             (kLensPositionBytes + kLensCandidateBytes * plan.lens_top_k);
  }
  if (plan.Has(pb::EXPLAIN_METHOD_OCCLUSION)) bytes += AttributionBytes(plan, tokens);
  if (plan.Has(pb::EXPLAIN_METHOD_LIME)) bytes += AttributionBytes(plan, tokens);
  if (plan.Has(pb::EXPLAIN_METHOD_PROJECTION)) {
    for (const std::string& t : plan.projection_texts) bytes += t.size() + 16;
    bytes += plan.projection_texts.size() * plan.projection_dims * 4 + 16;
  }
  return bytes;
}

int64_t AttentionLayers(const ExplainPlan& plan, const model::ModelInfo& info) {
  return std::count_if(plan.layers.begin(), plan.layers.end(),
                       [&](uint32_t l) { return l < static_cast<uint32_t>(info.num_layers); });
}

}  // namespace

bool ExplainPlan::Has(ExplainMethod m) const {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

bool ExplainPlan::NeedsCapture() const {
  return Has(pb::EXPLAIN_METHOD_ATTENTION) || Has(pb::EXPLAIN_METHOD_NEURON_VIEW) ||
         Has(pb::EXPLAIN_METHOD_ROLLOUT) || Has(pb::EXPLAIN_METHOD_NORM_WEIGHTED) ||
         Has(pb::EXPLAIN_METHOD_LOGIT_LENS);
}

absl::StatusOr<ExplainPlan> PlanExplain(const pb::ExplainAttentionRequest& r,
                                        const tasks::TaskModel& model,
                                        const service::ServiceLimits& limits) {
  ExplainPlan plan;
  const model::ModelInfo& info = model.info();
  INFER_RETURN_IF_ERROR(PlanMethods(r, model, &plan));
  // Logit lens and projection also read the final hidden state, index num_layers.
  const bool final_state =
      plan.Has(pb::EXPLAIN_METHOD_LOGIT_LENS) || plan.Has(pb::EXPLAIN_METHOD_PROJECTION);
  const uint32_t layer_range = info.num_layers + (final_state ? 1 : 0);
  INFER_ASSIGN_OR_RETURN(
      plan.layers,
      Selection(r.layers(), layer_range, "layers",
                final_state ? " (0 = embeddings for the logit lens)" : ""));
  INFER_ASSIGN_OR_RETURN(plan.heads, Selection(r.heads(), info.num_heads, "heads"));
  if (!pb::ExplainDType_IsValid(r.dtype())) {
    return absl::InvalidArgumentError("dtype: unknown value");
  }
  plan.float16 = r.dtype() == pb::EXPLAIN_DTYPE_FLOAT16;
  plan.top_k_keys = r.top_k_keys();
  plan.max_forward_passes = r.budget().max_forward_passes();
  plan.max_bytes = r.budget().max_bytes();
  plan.allow_truncation = r.budget().allow_truncation();
  plan.query_rows.assign(r.query_rows().begin(), r.query_rows().end());
  std::sort(plan.query_rows.begin(), plan.query_rows.end());
  plan.query_rows.erase(std::unique(plan.query_rows.begin(), plan.query_rows.end()),
                        plan.query_rows.end());

  INFER_ASSIGN_OR_RETURN(plan.input, InputTokens(r, model));
  plan.input_tokens = static_cast<int>(plan.input.ids.size());
  INFER_RETURN_IF_ERROR(PlanTarget(r, model, limits, &plan));
  const int64_t total =
      plan.input_tokens + static_cast<int64_t>(plan.continuation.size()) + plan.generate_tokens;
  const int context = model.causal() ? info.max_positions : model.max_input_tokens();
  const int limit = std::min(limits.max_explain_tokens, context);
  if (total > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text: ", total, " tokens (input, continuation and generated) exceed the explanation "
        "limit of ", limit, " tokens (the model's context or --max-explain-tokens); send a "
        "shorter text"));
  }
  for (size_t i = 0; i < plan.query_rows.size(); ++i) {
    if (plan.query_rows[i] >= total) {
      return absl::InvalidArgumentError(absl::StrCat("query_rows: ", plan.query_rows[i],
                                                     " is out of range [0, ", total, ")"));
    }
  }
  INFER_RETURN_IF_ERROR(PlanOptions(r, model, limits, &plan));
  for (uint32_t p : plan.lens_positions) {
    if (p >= total) {
      return absl::InvalidArgumentError(absl::StrCat("logit_lens.positions: ", p,
                                                     " is out of range [0, ", total, ")"));
    }
  }
  const tokenizer::Encoding& e = plan.input;
  plan.text_a = r.text();
  plan.text_b = r.text_pair();
  plan.span_segments = e.sequence_ids.size() == e.ids.size()
                           ? e.sequence_ids
                           : std::vector<int32_t>(e.ids.size(), r.text().empty() ? -1 : 0);
  plan.features = explain::GroupFeatures(e.offsets, e.special_mask, plan.span_segments,
                                         plan.text_a, plan.text_b, plan.input_tokens,
                                         plan.granularity);
  return plan;
}

int64_t PlannedForwardPasses(const ExplainPlan& plan) {
  int64_t passes = plan.generate_tokens;
  if (plan.NeedsCapture()) ++passes;
  const bool attributions =
      plan.Has(pb::EXPLAIN_METHOD_OCCLUSION) || plan.Has(pb::EXPLAIN_METHOD_LIME);
  // The model's own prediction, when the target is it and no capture forward gives it.
  const bool predicted = (plan.target == pb::EXPLAIN_TARGET_NEXT_TOKEN && !plan.NeedsCapture()) ||
                         (plan.target == pb::EXPLAIN_TARGET_CLASS_LABEL && plan.label < 0);
  if (attributions && predicted) ++passes;
  if (plan.Has(pb::EXPLAIN_METHOD_OCCLUSION)) passes += plan.features.count + 2;
  if (plan.Has(pb::EXPLAIN_METHOD_LIME)) passes += plan.lime.samples + 1;
  if (plan.Has(pb::EXPLAIN_METHOD_PROJECTION)) {
    passes += static_cast<int64_t>(plan.projection_inputs.size());
  }
  return passes;
}

uint64_t PlannedBytes(const ExplainPlan& plan, const model::ModelInfo& info, int64_t tokens) {
  return FixedBytes(plan, tokens) +
         static_cast<uint64_t>(AttentionLayers(plan, info)) * PerLayerBytes(plan, info, tokens);
}

absl::Status CheckBudget(const ExplainPlan& plan, const tasks::TaskModel& model,
                         const service::ServiceLimits& limits, int64_t tokens) {
  const int64_t passes = PlannedForwardPasses(plan);
  const bool own_passes = plan.max_forward_passes > 0 &&
                          plan.max_forward_passes < static_cast<uint32_t>(
                                                        limits.max_explain_forward_passes);
  const int64_t max_passes =
      own_passes ? plan.max_forward_passes : limits.max_explain_forward_passes;
  if (passes > max_passes) {
    std::string hint;
    if (plan.Has(pb::EXPLAIN_METHOD_LIME)) {
      const int64_t other = passes - plan.lime.samples - 1;
      if (max_passes - other - 1 >= 2) {
        absl::StrAppend(&hint, "; attribution.samples <= ", max_passes - other - 1, " would fit");
      }
    }
    if (plan.Has(pb::EXPLAIN_METHOD_OCCLUSION) &&
        plan.granularity != explain::Granularity::kSegment) {
      absl::StrAppend(&hint, "; a coarser attribution.granularity (WORD or SEGMENT) needs fewer");
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "the explanation would run ", passes, " forward passes, over the limit of ", max_passes,
        own_passes ? " (budget.max_forward_passes)" : " (the server's --max-explain-forward-passes)",
        hint));
  }
  if (plan.allow_truncation) return absl::OkStatus();
  const model::ModelInfo& info = model.info();
  const bool own_bytes = plan.max_bytes > 0 &&
                         plan.max_bytes < static_cast<uint64_t>(limits.max_explain_bytes);
  const uint64_t max_bytes = own_bytes ? plan.max_bytes : limits.max_explain_bytes;
  const uint64_t bytes = PlannedBytes(plan, info, tokens);
  if (bytes <= max_bytes) return absl::OkStatus();
  const uint64_t fixed = FixedBytes(plan, tokens);
  const uint64_t per_layer = PerLayerBytes(plan, info, tokens);
  std::string hint;
  if (fixed >= max_bytes) {
    hint = "; the logit lens, attribution and projection blocks alone exceed it: select fewer "
           "layers or logit_lens.positions";
  } else if (per_layer > 0) {
    const uint64_t fit = (max_bytes - fixed) / per_layer;
    if (fit > 0) {
      absl::StrAppend(&hint, "; at most ", fit, " of the ", AttentionLayers(plan, info),
                      " selected layers would fit");
    }
    if (!plan.float16) absl::StrAppend(&hint, "; dtype FLOAT16 halves the maps");
    if (plan.top_k_keys == 0) {
      const uint64_t rows = plan.query_rows.empty() ? tokens : plan.query_rows.size();
      const uint64_t per_entry = per_layer / std::max<uint64_t>(1, rows * tokens);
      const uint64_t k = (max_bytes - fixed) /
                         std::max<uint64_t>(1, AttentionLayers(plan, info) * rows *
                                                   (per_entry + 4));
      if (k >= 1 && k < static_cast<uint64_t>(tokens)) {
        absl::StrAppend(&hint, "; or top_k_keys <= ", k);
      }
    }
    absl::StrAppend(&hint, "; or fewer heads or query_rows");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the explanation reply would be about ", bytes, " bytes, over the limit of ", max_bytes,
      own_bytes ? " (budget.max_bytes)" : " (the server's --max-explain-bytes)", hint,
      "; or set budget.allow_truncation"));
}

}  // namespace infer::api
