#include "server/api/classify_handler.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "server/api/input_checks.h"
#include "server/tasks/zero_shot.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

// Labels best first, cut to top_k.
void FillLabels(const std::vector<std::string>& names, const std::vector<double>& probs,
                const std::vector<double>& logits, uint32_t top_k,
                infer::v1::Classification* out) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return probs[a] > probs[b]; });
  if (top_k > 0 && top_k < order.size()) order.resize(top_k);
  for (size_t i : order) {
    infer::v1::LabelScore* l = out->add_labels();
    l->set_label(names[i]);
    l->set_score(probs[i]);
    l->set_logit(logits[i]);
  }
}

absl::StatusOr<tasks::ZeroShotMethod> CheckMethod(const infer::v1::ClassifyRequest& r,
                                                  const tasks::TaskModel& model) {
  using M = tasks::ZeroShotMethod;
  const std::string name = model.path();
  switch (r.method()) {
    case infer::v1::ZERO_SHOT_METHOD_UNSPECIFIED: return M::kAuto;
    case infer::v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL:
      if (!model.causal()) {
        return absl::InvalidArgumentError(
            "method: LANGUAGE_MODEL zero-shot needs a causal LM; this model is an encoder");
      }
      return M::kLanguageModel;
    case infer::v1::ZERO_SHOT_METHOD_NLI:
      if (model.causal() || model.info().num_labels == 0 ||
          !tasks::FindNliLabelIds(model.info().id2label).ok()) {
        return absl::InvalidArgumentError(
            "method: NLI zero-shot needs an encoder with an NLI head (entailment / contradiction "
            "labels)");
      }
      return M::kNli;
    case infer::v1::ZERO_SHOT_METHOD_EMBEDDING:
      if (model.causal()) {
        return absl::InvalidArgumentError(
            "method: EMBEDDING zero-shot needs an encoder; this model is a causal LM");
      }
      return M::kEmbedding;
    default:
      return absl::InvalidArgumentError(absl::StrCat("method: unknown value ", r.method()));
  }
}

infer::v1::ZeroShotMethod ToProto(tasks::ZeroShotMethod m) {
  switch (m) {
    case tasks::ZeroShotMethod::kLanguageModel: return infer::v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL;
    case tasks::ZeroShotMethod::kNli: return infer::v1::ZERO_SHOT_METHOD_NLI;
    case tasks::ZeroShotMethod::kEmbedding: return infer::v1::ZERO_SHOT_METHOD_EMBEDDING;
    case tasks::ZeroShotMethod::kAuto: break;
  }
  return infer::v1::ZERO_SHOT_METHOD_UNSPECIFIED;
}

absl::Status ZeroShot(const infer::v1::ClassifyRequest& r, tasks::TaskModel& model,
                      const service::ServiceLimits& limits, infer::v1::ClassifyResponse* out) {
  if (!r.pairs().empty()) {
    return absl::InvalidArgumentError("pairs: not used with zero-shot labels");
  }
  if (r.labels_size() < 2) {
    return absl::InvalidArgumentError("labels: zero-shot classification needs at least two");
  }
  if (r.labels_size() > limits.max_labels) {
    return absl::InvalidArgumentError(absl::StrCat("labels: ", r.labels_size(),
                                                   " labels exceed this server's limit of ",
                                                   limits.max_labels, " (--max-labels)"));
  }
  std::set<std::string> seen;
  for (int i = 0; i < r.labels_size(); ++i) {
    if (r.labels(i).empty()) return absl::InvalidArgumentError(absl::StrCat("labels[", i, "]: empty"));
    if (!seen.insert(r.labels(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels[", i, "]: \"", r.labels(i), "\" is listed twice"));
    }
  }
  tasks::ZeroShotOptions o;
  INFER_ASSIGN_OR_RETURN(o.method, CheckMethod(r, model));
  if (!r.lm_template().empty()) {
    if (!absl::StrContains(r.lm_template(), "{text}")) {
      return absl::InvalidArgumentError("lm_template: must contain {text}");
    }
    o.lm_template = r.lm_template();
  }
  if (!r.hypothesis_template().empty()) {
    if (!absl::StrContains(r.hypothesis_template(), "{}")) {
      return absl::InvalidArgumentError("hypothesis_template: must contain {}");
    }
    o.hypothesis_template = r.hypothesis_template();
  }
  o.multi_label = r.multi_label();
  if (r.has_temperature()) {
    if (!(r.temperature() > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("temperature: must be > 0, got ", r.temperature()));
    }
    o.temperature = r.temperature();
  }
  INFER_ASSIGN_OR_RETURN(std::vector<int> counts, CountTokens(model, r.inputs()));
  std::vector<std::string> labels(r.labels().begin(), r.labels().end());
  uint32_t prompt_tokens = 0;
  for (int i = 0; i < r.inputs_size(); ++i) {
    INFER_ASSIGN_OR_RETURN(tasks::ZeroShotResult z, model.ZeroShot(r.inputs(i), labels, o));
    out->set_method(ToProto(z.method));
    infer::v1::Classification* c = out->add_results();
    FillLabels(labels, z.scores.probs, z.scores.scores, r.top_k(), c);
    c->set_tokens(static_cast<uint32_t>(counts[i]));
    prompt_tokens += counts[i];
  }
  out->mutable_usage()->set_prompt_tokens(prompt_tokens);
  return absl::OkStatus();
}

// A fine-tuned head: tokenized here, run in the encoder batcher's shared forwards, scored here.
absl::Status Head(const infer::v1::ClassifyRequest& r, service::ServedModel& served,
                  const runtime::RequestLifetime& life, const std::string& model_name,
                  infer::v1::ClassifyResponse* out) {
  tasks::TaskModel& model = served.model();
  if (model.causal() || model.info().num_labels == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels: model \"", model_name,
        "\" has no classification head; name candidate labels for zero-shot classification"));
  }
  std::vector<std::string> texts(r.inputs().begin(), r.inputs().end());
  std::vector<std::string> pairs(r.pairs().begin(), r.pairs().end());
  INFER_ASSIGN_OR_RETURN(tasks::ClassifyPlan plan,
                         model.PrepareClassify(texts, pairs, r.truncate()));
  INFER_ASSIGN_OR_RETURN(std::vector<runtime::EncodedInput> encoded,
                         served.batcher()->Encode(std::move(plan.inputs), life));
  INFER_ASSIGN_OR_RETURN(tasks::ClassifyResult res, model.FinishClassify(plan, encoded));
  uint32_t prompt_tokens = 0;
  for (size_t i = 0; i < res.scores.size(); ++i) {
    const tasks::ClassScores& s = res.scores[i];
    std::vector<double> probs(s.probs.begin(), s.probs.end());
    std::vector<double> logits(s.logits.begin(), s.logits.end());
    infer::v1::Classification* c = out->add_results();
    FillLabels(res.labels, probs, logits, r.top_k(), c);
    c->set_tokens(static_cast<uint32_t>(res.token_counts[i]));
    c->set_truncated_tokens(static_cast<uint32_t>(res.truncated[i]));
    prompt_tokens += c->tokens();
  }
  out->mutable_usage()->set_prompt_tokens(prompt_tokens);
  return absl::OkStatus();
}

}  // namespace

absl::Status HandleClassify(const infer::v1::ClassifyRequest& request,
                            infer::v1::ClassifyResponse* response,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kClassify));
  call.model = served->name();
  response->set_model(call.model);
  INFER_RETURN_IF_ERROR(CheckInputs(request.inputs(), limits));
  INFER_RETURN_IF_ERROR(CheckPairs(request.pairs(), request.inputs()));
  absl::Status s;
  if (request.labels().empty()) {
    s = Head(request, *served, call.Lifetime(), call.model, response);
  } else {
    // Zero-shot runs several forwards of its own (label forks, NLI pairs): it takes the model's
    // worker to itself between batches.
    s = served->RunExclusive(
        [&] { return ZeroShot(request, served->model(), limits, response); },
        EstimateTokens(request.inputs()), call.Lifetime());
  }
  if (s.ok()) call.metrics->AddPromptTokens(call.model, response->usage().prompt_tokens());
  return s;
}

}  // namespace infer::api
