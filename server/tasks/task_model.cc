#include "server/tasks/task_model.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/util/status_macros.h"

namespace infer::tasks {

const char* ZeroShotMethodName(ZeroShotMethod m) {
  switch (m) {
    case ZeroShotMethod::kAuto: return "auto";
    case ZeroShotMethod::kLanguageModel: return "language_model";
    case ZeroShotMethod::kNli: return "nli";
    case ZeroShotMethod::kEmbedding: return "embedding";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<TaskModel>> TaskModel::Load(const std::string& folder,
                                                           kernels::Backend* backend,
                                                           const runtime::LmEngineOptions& lm) {
  std::unique_ptr<TaskModel> t(new TaskModel());
  INFER_ASSIGN_OR_RETURN(t->model_, model::LoadModel(folder, backend));
  INFER_ASSIGN_OR_RETURN(t->tokenizer_, tokenizer::Tokenizer::LoadFromFolder(folder));
  if (t->tokenizer_->vocab_size() > t->model_.info().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        folder, ": the tokenizer has ", t->tokenizer_->vocab_size(),
        " tokens but the model's vocabulary only ", t->model_.info().vocab_size));
  }
  if (t->model_.decoder) {
    runtime::LmEngineOptions sized = lm;
    INFER_ASSIGN_OR_RETURN(sized.kv_cache_bytes,
                           runtime::KvCacheBytesFor(t->model_.decoder->info(), backend, lm));
    t->lm_ = std::make_unique<runtime::LmEngine>(std::move(t->model_.decoder), backend, sized);
    INFER_ASSIGN_OR_RETURN(t->gen_defaults_, runtime::LoadGenerationDefaults(folder));
    if (t->gen_defaults_.eos_token_ids.empty() && t->tokenizer_->eos().has_value()) {
      t->gen_defaults_.eos_token_ids.push_back(*t->tokenizer_->eos());
    }
  }
  return t;
}

int TaskModel::max_input_tokens() const {
  if (lm_) return lm_->max_positions();
  int limit = model_.encoder->max_tokens();
  if (model_.pooling && model_.pooling->max_seq_length) {
    limit = std::min(limit, *model_.pooling->max_seq_length);
  }
  return limit;
}

absl::StatusOr<std::vector<float>> TaskModel::AttentionOutputWeight(int layer) const {
  if (lm_) return lm_->model().AttentionOutputWeight(layer);
  return model_.encoder->AttentionOutputWeight(layer);
}

float TaskModel::AttentionScale(int layer) const {
  return lm_ ? lm_->model().AttentionScale(layer) : model_.encoder->AttentionScale(layer);
}

absl::Status TaskModel::LensLogits(std::span<const float> states, int64_t rows,
                                   bool apply_final_norm, std::vector<float>* logits) {
  if (!lm_) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", model_.path, " is an encoder and has no LM head for a logit lens"));
  }
  return lm_->model().LensLogits(states, rows, apply_final_norm, logits);
}

absl::StatusOr<TokenizedInput> TaskModel::Tokenize(const std::string& text,
                                                   const std::string* pair, size_t index,
                                                   bool truncate, size_t* truncated) const {
  tokenizer::TruncationOptions trunc;
  trunc.max_length = static_cast<size_t>(max_input_tokens());
  tokenizer::Encoding e = pair ? tokenizer_->EncodePair(text, *pair, true, trunc)
                               : tokenizer_->Encode(text, true, trunc);
  if (!truncate && e.num_truncated > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[", index, "]: ", e.size() + e.num_truncated, " tokens exceed the model's context of ",
        max_input_tokens(), " tokens (set truncate to cut inputs to fit)"));
  }
  if (truncated) *truncated = e.num_truncated;
  TokenizedInput in;
  in.ids = std::move(e.ids);
  if (pair) in.type_ids = std::move(e.type_ids);
  return in;
}

absl::StatusOr<runtime::GenerationResult> TaskModel::Generate(
    const std::string& prompt, const runtime::GenerationOptions& options,
    runtime::GenerateHooks hooks) {
  tokenizer::Encoding e = tokenizer_->Encode(prompt, /*add_special_tokens=*/true);
  if (e.ids.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  return GenerateFromIds(e.ids, options, std::move(hooks));
}

absl::StatusOr<runtime::GenerationResult> TaskModel::GenerateFromIds(
    std::span<const int32_t> prompt, const runtime::GenerationOptions& options,
    runtime::GenerateHooks hooks) {
  if (!lm_) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", model_.path, " is an encoder and cannot generate text"));
  }
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  if (!hooks.detokenize) {
    hooks.detokenize = [this](std::span<const int32_t> ids) { return tokenizer_->Decode(ids); };
  }
  return runtime::Generate(*lm_, prompt, options, hooks);
}

namespace {

// The encoder run that Embed and Classify make on the calling thread: the same per-input outputs
// EncoderBatcher::Encode returns, so that both paths share Finish*.
absl::StatusOr<std::vector<runtime::EncodedInput>> EncodeHere(
    model::EncoderModel& m, std::span<const TokenizedInput> inputs) {
  std::vector<runtime::EncodedInput> out(inputs.size());
  INFER_RETURN_IF_ERROR(RunEncoder(
      m, inputs, [&](size_t i, std::span<const float> states, std::span<const float> logits) {
        out[i].states.assign(states.begin(), states.end());
        out[i].class_logits.assign(logits.begin(), logits.end());
      }));
  return out;
}

}  // namespace

absl::StatusOr<EmbedPlan> TaskModel::PrepareEmbed(const std::vector<std::string>& texts,
                                                  const EmbedOptions& options) const {
  if (!model_.encoder) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", model_.path, " is not an embedding (encoder) model"));
  }
  EmbedPlan p;
  for (size_t i = 0; i < texts.size(); ++i) {
    size_t dropped = 0;
    INFER_ASSIGN_OR_RETURN(TokenizedInput in,
                           Tokenize(texts[i], nullptr, i, options.truncate, &dropped));
    p.token_counts.push_back(static_cast<int>(in.ids.size()));
    p.truncated.push_back(dropped);
    p.inputs.push_back(std::move(in));
  }
  p.pooling = options.pooling.value_or(model_.pooling ? model_.pooling->mode
                                                      : model::PoolingMode::kMean);
  p.normalize = options.normalize.value_or(model_.pooling ? model_.pooling->normalize : false);
  return p;
}

absl::StatusOr<EmbedResult> TaskModel::FinishEmbed(
    const EmbedPlan& plan, std::span<const runtime::EncodedInput> encoded) const {
  if (!model_.encoder) return absl::InternalError("FinishEmbed on a model with no encoder");
  const int64_t hidden = model_.encoder->info().hidden_size;
  if (encoded.size() != plan.token_counts.size()) {
    return absl::InternalError(absl::StrCat("FinishEmbed: ", encoded.size(), " outputs for ",
                                            plan.token_counts.size(), " inputs"));
  }
  EmbedResult r;
  r.token_counts = plan.token_counts;
  r.truncated = plan.truncated;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (static_cast<int64_t>(encoded[i].states.size()) != plan.token_counts[i] * hidden) {
      return absl::InternalError(absl::StrCat("FinishEmbed: output ", i, " has ",
                                              encoded[i].states.size(), " values, expected ",
                                              plan.token_counts[i], " x ", hidden));
    }
    r.vectors.push_back(EmbedStates(encoded[i].states, hidden, plan.pooling, plan.normalize));
  }
  return r;
}

absl::StatusOr<EmbedResult> TaskModel::Embed(const std::vector<std::string>& texts,
                                             const EmbedOptions& options) {
  INFER_ASSIGN_OR_RETURN(EmbedPlan plan, PrepareEmbed(texts, options));
  INFER_ASSIGN_OR_RETURN(std::vector<runtime::EncodedInput> encoded,
                         EncodeHere(*model_.encoder, plan.inputs));
  return FinishEmbed(plan, encoded);
}

absl::StatusOr<ClassifyPlan> TaskModel::PrepareClassify(const std::vector<std::string>& texts,
                                                        const std::vector<std::string>& pairs,
                                                        bool truncate) const {
  if (!model_.encoder || !model_.encoder->has_classifier()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", model_.path, " has no sequence-classification head; use zero-shot labels"));
  }
  if (!pairs.empty() && pairs.size() != texts.size()) {
    return absl::InvalidArgumentError("text_pair must be empty or have one entry per text");
  }
  ClassifyPlan p;
  const model::ModelInfo& info = model_.encoder->info();
  for (int i = 0; i < info.num_labels; ++i) {
    auto it = info.id2label.find(i);
    p.labels.push_back(it != info.id2label.end() ? it->second : absl::StrCat("LABEL_", i));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    size_t dropped = 0;
    INFER_ASSIGN_OR_RETURN(
        TokenizedInput in,
        Tokenize(texts[i], pairs.empty() ? nullptr : &pairs[i], i, truncate, &dropped));
    p.token_counts.push_back(static_cast<int>(in.ids.size()));
    p.truncated.push_back(dropped);
    p.inputs.push_back(std::move(in));
  }
  return p;
}

absl::StatusOr<ClassifyResult> TaskModel::FinishClassify(
    const ClassifyPlan& plan, std::span<const runtime::EncodedInput> encoded) const {
  if (!model_.encoder || !model_.encoder->has_classifier()) {
    return absl::InternalError("FinishClassify on a model with no classification head");
  }
  const model::ModelInfo& info = model_.encoder->info();
  if (encoded.size() != plan.token_counts.size()) {
    return absl::InternalError(absl::StrCat("FinishClassify: ", encoded.size(), " outputs for ",
                                            plan.token_counts.size(), " inputs"));
  }
  ClassifyResult r;
  r.labels = plan.labels;
  r.token_counts = plan.token_counts;
  r.truncated = plan.truncated;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (static_cast<int>(encoded[i].class_logits.size()) != info.num_labels) {
      return absl::InternalError(absl::StrCat("FinishClassify: output ", i, " has ",
                                              encoded[i].class_logits.size(), " logits, expected ",
                                              info.num_labels));
    }
    r.scores.push_back(ScoreLogits(encoded[i].class_logits, info.multi_label));
  }
  return r;
}

absl::StatusOr<ClassifyResult> TaskModel::Classify(const std::vector<std::string>& texts,
                                                   const std::vector<std::string>& pairs,
                                                   bool truncate) {
  INFER_ASSIGN_OR_RETURN(ClassifyPlan plan, PrepareClassify(texts, pairs, truncate));
  INFER_ASSIGN_OR_RETURN(std::vector<runtime::EncodedInput> encoded,
                         EncodeHere(*model_.encoder, plan.inputs));
  return FinishClassify(plan, encoded);
}

absl::StatusOr<ZeroShotResult> TaskModel::ZeroShot(const std::string& text,
                                                   const std::vector<std::string>& labels,
                                                   const ZeroShotOptions& options) {
  if (labels.size() < 2) {
    return absl::InvalidArgumentError("zero-shot classification needs at least two labels");
  }
  for (const std::string& l : labels) {
    if (l.empty()) return absl::InvalidArgumentError("a zero-shot label is empty");
  }
  ZeroShotResult r;
  r.method = options.method;
  if (r.method == ZeroShotMethod::kAuto) {
    if (lm_) {
      r.method = ZeroShotMethod::kLanguageModel;
    } else if (model_.encoder->has_classifier() && FindNliLabelIds(info().id2label).ok()) {
      r.method = ZeroShotMethod::kNli;
    } else {
      r.method = ZeroShotMethod::kEmbedding;
    }
  }
  switch (r.method) {
    case ZeroShotMethod::kLanguageModel: {
      if (!lm_) return absl::InvalidArgumentError("language-model zero-shot needs a causal LM");
      std::string prompt = absl::StrReplaceAll(options.lm_template, {{"{text}", text}});
      std::vector<int32_t> prompt_ids = tokenizer_->Encode(prompt, true).ids;
      std::vector<std::vector<int32_t>> label_ids;
      for (const std::string& l : labels) {
        label_ids.push_back(tokenizer_->Encode(" " + l, false).ids);
      }
      INFER_ASSIGN_OR_RETURN(r.scores, LmZeroShot(*lm_, prompt_ids, label_ids,
                                                  options.length_normalize));
      return r;
    }
    case ZeroShotMethod::kNli: {
      if (!model_.encoder || !model_.encoder->has_classifier()) {
        return absl::InvalidArgumentError("NLI zero-shot needs a sequence-classification model");
      }
      INFER_ASSIGN_OR_RETURN(NliLabelIds ids, FindNliLabelIds(info().id2label));
      std::vector<std::string> texts(labels.size(), text), hyps;
      for (const std::string& l : labels) {
        hyps.push_back(absl::StrReplaceAll(options.hypothesis_template, {{"{}", l}}));
      }
      INFER_ASSIGN_OR_RETURN(ClassifyResult c, Classify(texts, hyps));
      std::vector<std::vector<float>> logits;
      for (const ClassScores& s : c.scores) logits.push_back(s.logits);
      r.scores = NliZeroShotFromLogits(logits, ids, options.multi_label);
      return r;
    }
    case ZeroShotMethod::kEmbedding: {
      if (!model_.encoder) return absl::InvalidArgumentError("embedding zero-shot needs an encoder");
      if (!(options.temperature > 0)) {
        return absl::InvalidArgumentError("temperature must be positive");
      }
      std::vector<std::string> all = {text};
      all.insert(all.end(), labels.begin(), labels.end());
      INFER_ASSIGN_OR_RETURN(EmbedResult e, Embed(all));
      std::vector<std::vector<float>> label_vecs(e.vectors.begin() + 1, e.vectors.end());
      r.scores = EmbeddingZeroShot(e.vectors[0], label_vecs, options.temperature);
      return r;
    }
    case ZeroShotMethod::kAuto: break;
  }
  return absl::InternalError("unreachable zero-shot method");
}

}  // namespace infer::tasks
