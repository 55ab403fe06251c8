#include "server/api/explain_run.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/explain/model_runs.h"
#include "server/runtime/score_math.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

namespace pb = infer::v1;

// Greedy continuation of the input (the generation config's end-of-text ids end it early).
absl::Status GenerateFirst(const ExplainPlan& plan, tasks::TaskModel& model, ExplainRun* run) {
  runtime::GenerationOptions opt;
  opt.eos_token_ids = model.generation_defaults().eos_token_ids;
  opt.pad_token_id = model.generation_defaults().pad_token_id;
  opt.max_new_tokens = plan.generate_tokens;
  INFER_ASSIGN_OR_RETURN(runtime::GenerationResult g, model.GenerateFromIds(run->ids, opt));
  if (g.sequences.empty()) return absl::InternalError("generation returned no sequence");
  const std::vector<int32_t>& t = g.sequences[0].tokens;
  run->generated = static_cast<int>(t.size());
  run->generated_text = model.tokenizer().Decode(t);
  run->ids.insert(run->ids.end(), t.begin(), t.end());
  run->forward_passes += run->generated;
  run->engine_calls += run->generated;
  return absl::OkStatus();
}

// The target of a causal LM: every token after the input, predicted from the position before it;
// for NEXT_TOKEN the model's own prediction after the input.
absl::Status ResolveTargets(const ExplainPlan& plan, tasks::TaskModel& model, ExplainRun* run) {
  const int P = plan.input_tokens;
  const int T = static_cast<int>(run->ids.size());
  if (plan.target == pb::EXPLAIN_TARGET_CONTINUATION ||
      plan.target == pb::EXPLAIN_TARGET_GENERATED) {
    for (int p = P - 1; p + 1 < T; ++p) {
      run->target_positions.push_back(static_cast<uint32_t>(p));
      run->target_ids.push_back(run->ids[p + 1]);
    }
    return absl::OkStatus();
  }
  if (plan.target == pb::EXPLAIN_TARGET_NEXT_TOKEN) {
    const model::ModelInfo& info = model.info();
    std::vector<float> logits;
    if (!run->capture.hidden.empty()) {
      const std::vector<float>& last = run->capture.hidden[info.num_layers];
      INFER_RETURN_IF_ERROR(model.LensLogits(
          std::span<const float>(last.data() + static_cast<size_t>(T - 1) * info.hidden_size,
                                 info.hidden_size),
          1, false, &logits));
    } else {
      INFER_ASSIGN_OR_RETURN(logits, explain::NextTokenLogits(model, run->ids));
      ++run->forward_passes;
      ++run->engine_calls;
    }
    run->target_positions.push_back(static_cast<uint32_t>(T - 1));
    run->target_ids.push_back(runtime::Argmax(logits));
    return absl::OkStatus();
  }
  if (plan.target == pb::EXPLAIN_TARGET_CLASS_LABEL) {
    int label = plan.label;
    if (label < 0) {
      model::EncoderBatch batch;
      batch.tokens = run->ids;
      batch.type_ids = run->type_ids;
      batch.cu_seqlens = {0, static_cast<int32_t>(run->ids.size())};
      model::EncoderOutput out;
      INFER_RETURN_IF_ERROR(model.encoder()->Forward(batch, nullptr, &out));
      ++run->forward_passes;
      ++run->engine_calls;
      label = runtime::Argmax(out.class_logits);
    }
    run->target_positions.push_back(0);
    run->target_ids.push_back(label);
  }
  return absl::OkStatus();
}

absl::Status LensLogits(const ExplainPlan& plan, tasks::TaskModel& model, ExplainRun* run) {
  const model::ModelInfo& info = model.info();
  const int T = static_cast<int>(run->ids.size());
  run->lens_positions = plan.lens_positions;
  if (run->lens_positions.empty()) {
    run->lens_positions = run->target_positions;
    if (run->lens_positions.empty()) run->lens_positions.push_back(static_cast<uint32_t>(T - 1));
  }
  for (uint32_t p : run->lens_positions) {
    if (p >= static_cast<uint32_t>(T)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logit_lens.positions: ", p, " is past the ", T, " explained tokens"));
    }
  }
  const int64_t H = info.hidden_size;
  auto at_layer = [&](int layer, std::vector<float>* logits) -> absl::Status {
    std::vector<float> rows;
    const std::vector<float>& states = run->capture.hidden[layer];
    for (uint32_t p : run->lens_positions) {
      rows.insert(rows.end(), states.begin() + p * H, states.begin() + (p + 1) * H);
    }
    // The last hidden state is already after the final norm (as transformers reports it).
    return model.LensLogits(rows, static_cast<int64_t>(run->lens_positions.size()),
                            layer < info.num_layers, logits);
  };
  INFER_RETURN_IF_ERROR(at_layer(info.num_layers, &run->final_logits));
  for (uint32_t l : plan.layers) {
    std::vector<float> logits;
    if (static_cast<int>(l) == info.num_layers) {
      logits = run->final_logits;
    } else {
      INFER_RETURN_IF_ERROR(at_layer(static_cast<int>(l), &logits));
    }
    run->lens_logits.push_back(std::move(logits));
  }
  return absl::OkStatus();
}

absl::Status Attributions(const ExplainPlan& plan, tasks::TaskModel& model, ExplainRun* run) {
  explain::AttributionInput in;
  in.ids = run->ids;
  in.type_ids = run->type_ids;
  in.features = plan.features;
  in.features.feature_of_token.resize(run->ids.size(), -1);
  in.baseline_id = plan.baseline_id;
  if (model.causal()) {
    in.target.first_position = static_cast<int>(run->target_positions.front());
    in.target.ids = run->target_ids;
  } else {
    in.target.label = run->target_ids.front();
  }
  if (plan.Has(pb::EXPLAIN_METHOD_OCCLUSION)) {
    INFER_ASSIGN_OR_RETURN(run->occlusion, explain::RunOcclusion(model, in));
    run->forward_passes += run->occlusion->evaluations;
    run->engine_calls += run->occlusion->engine_calls;
  }
  if (plan.Has(pb::EXPLAIN_METHOD_LIME)) {
    INFER_ASSIGN_OR_RETURN(run->lime, explain::RunLime(model, in, plan.lime));
    run->forward_passes += run->lime->evaluations;
    run->engine_calls += run->lime->engine_calls;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExplainRun> RunExplain(const ExplainPlan& plan, tasks::TaskModel& model) {
  const model::ModelInfo& info = model.info();
  ExplainRun run;
  run.ids = plan.input.ids;
  run.ids.insert(run.ids.end(), plan.continuation.begin(), plan.continuation.end());
  if (plan.generate_tokens > 0) INFER_RETURN_IF_ERROR(GenerateFirst(plan, model, &run));
  run.type_ids = plan.input.type_ids;
  run.type_ids.resize(run.ids.size(), 0);
  const int T = static_cast<int>(run.ids.size());
  for (uint32_t r : plan.query_rows) {
    if (r >= static_cast<uint32_t>(T)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query_rows: ", r, " is past the ", T, " explained tokens (generation ended early)"));
    }
  }

  if (plan.NeedsCapture()) {
    explain::CaptureWants wants;
    wants.attentions = plan.Has(pb::EXPLAIN_METHOD_ATTENTION) ||
                       plan.Has(pb::EXPLAIN_METHOD_ROLLOUT) ||
                       plan.Has(pb::EXPLAIN_METHOD_NORM_WEIGHTED);
    wants.qkv = plan.Has(pb::EXPLAIN_METHOD_NEURON_VIEW) ||
                plan.Has(pb::EXPLAIN_METHOD_NORM_WEIGHTED);
    // Causal models: the final hidden state also gives the next-token target.
    wants.hidden = model.causal();
    INFER_ASSIGN_OR_RETURN(run.capture,
                           explain::CaptureForward(model, run.ids,
                                                   model.causal() ? std::span<const int32_t>()
                                                                  : std::span<const int32_t>(
                                                                        run.type_ids),
                                                   wants));
    ++run.forward_passes;
    ++run.engine_calls;
  }
  const bool attributions =
      plan.Has(pb::EXPLAIN_METHOD_OCCLUSION) || plan.Has(pb::EXPLAIN_METHOD_LIME);
  // Targets that cost nothing are always resolved; the model's own prediction (next token,
  // predicted label) costs a forward unless the capture gave it, so only attributions ask for it.
  const bool free_target =
      plan.target == pb::EXPLAIN_TARGET_CONTINUATION ||
      plan.target == pb::EXPLAIN_TARGET_GENERATED ||
      (plan.target == pb::EXPLAIN_TARGET_NEXT_TOKEN && !run.capture.hidden.empty()) ||
      (plan.target == pb::EXPLAIN_TARGET_CLASS_LABEL && plan.label >= 0);
  if (plan.target != pb::EXPLAIN_TARGET_UNSPECIFIED && (free_target || attributions)) {
    INFER_RETURN_IF_ERROR(ResolveTargets(plan, model, &run));
  }
  if (plan.Has(pb::EXPLAIN_METHOD_NORM_WEIGHTED)) {
    // Only the selected layers' projections are copied out of the model.
    run.out_proj.resize(info.num_layers);
    for (uint32_t l : plan.layers) {
      if (l >= static_cast<uint32_t>(info.num_layers)) continue;
      INFER_ASSIGN_OR_RETURN(run.out_proj[l], model.AttentionOutputWeight(static_cast<int>(l)));
    }
  }
  if (plan.Has(pb::EXPLAIN_METHOD_NEURON_VIEW)) {
    for (int l = 0; l < info.num_layers; ++l) run.scales.push_back(model.AttentionScale(l));
  }
  if (plan.Has(pb::EXPLAIN_METHOD_LOGIT_LENS)) INFER_RETURN_IF_ERROR(LensLogits(plan, model, &run));
  if (attributions) {
    if (run.target_ids.empty()) return absl::InternalError("attributions without a target");
    INFER_RETURN_IF_ERROR(Attributions(plan, model, &run));
  }
  if (plan.Has(pb::EXPLAIN_METHOD_PROJECTION)) {
    INFER_ASSIGN_OR_RETURN(run.pooled,
                           explain::PooledStates(model, plan.projection_inputs,
                                                 plan.projection_layer, plan.pooling));
    run.forward_passes += static_cast<int>(plan.projection_inputs.size());
    ++run.engine_calls;
  }
  return run;
}

}  // namespace infer::api
