// One served model: its folder's architecture, tokenizer and defaults, with the text-level tasks
// it can answer. This is what the service layer and the CLI call; it knows nothing of gRPC.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/runtime/encoder_batcher.h"
#include "server/runtime/generate.h"
#include "server/runtime/lm_engine.h"
#include "server/tasks/encoder_tasks.h"
#include "server/tasks/zero_shot.h"
#include "server/tokenizer/tokenizer.h"

namespace infer::tasks {

struct EmbedOptions {
  std::optional<model::PoolingMode> pooling;  // default: the folder's pooling config, else mean
  std::optional<bool> normalize;              // default: the folder's Normalize module
  // An input longer than the model's context is cut to fit (true) or refused with
  // INVALID_ARGUMENT naming it as inputs[i] (false).
  bool truncate = true;
};

struct EmbedResult {
  std::vector<std::vector<float>> vectors;
  std::vector<int> token_counts;      // tokens used per input, after truncation
  std::vector<size_t> truncated;      // tokens dropped per input
};

struct ClassifyResult {
  std::vector<std::string> labels;    // id2label order
  std::vector<ClassScores> scores;    // per input
  std::vector<int> token_counts;      // tokens used per input, after truncation
  std::vector<size_t> truncated;
};

// Embed and Classify in two phases, so that a service can tokenize on the handler's thread, run
// the encoder elsewhere (runtime::EncoderBatcher, in forwards shared with other requests) and
// finish on the handler's thread again. Finish* never reads `inputs`: they may be moved out.
struct EmbedPlan {
  std::vector<TokenizedInput> inputs;
  model::PoolingMode pooling = model::PoolingMode::kMean;  // resolved from options and folder
  bool normalize = false;
  std::vector<int> token_counts;  // as EmbedResult
  std::vector<size_t> truncated;
};

struct ClassifyPlan {
  std::vector<std::string> labels;  // id2label order
  std::vector<TokenizedInput> inputs;
  std::vector<int> token_counts;    // as ClassifyResult
  std::vector<size_t> truncated;
};

enum class ZeroShotMethod { kAuto, kLanguageModel, kNli, kEmbedding };

struct ZeroShotOptions {
  ZeroShotMethod method = ZeroShotMethod::kAuto;  // auto: LM for decoders, NLI for encoders with
                                                  // an entailment label, else embeddings
  // LM: prompt "{text}" is replaced by the input; each label is scored as " " + label.
  std::string lm_template = "{text} This example is";
  bool length_normalize = true;
  // NLI: "{}" is replaced by the label, as transformers' hypothesis_template.
  std::string hypothesis_template = "This example is {}.";
  bool multi_label = false;
  double temperature = 0.05;  // embeddings: probs = softmax(cosine / temperature)
};

struct ZeroShotResult {
  ZeroShotMethod method = ZeroShotMethod::kAuto;
  ZeroShotScores scores;
};

class TaskModel {
 public:
  static absl::StatusOr<std::unique_ptr<TaskModel>> Load(const std::string& folder,
                                                         kernels::Backend* backend,
                                                         const runtime::LmEngineOptions& lm = {});

  // The decoder moves into the LmEngine at load, so ask whichever part holds the model.
  const model::ModelInfo& info() const { return lm_ ? lm_->info() : model_.encoder->info(); }
  const std::string& path() const { return model_.path; }
  bool causal() const { return lm_ != nullptr; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  runtime::LmEngine* lm() { return lm_.get(); }
  model::EncoderModel* encoder() { return model_.encoder.get(); }
  // The folder's generation_config.json merged over transformers' defaults, with EOS from the
  // tokenizer when the folder names none.
  const runtime::GenerationOptions& generation_defaults() const { return gen_defaults_; }

  absl::StatusOr<runtime::GenerationResult> Generate(const std::string& prompt,
                                                     const runtime::GenerationOptions& options,
                                                     runtime::GenerateHooks hooks = {});
  // The same from token ids (ids must be inside the vocabulary; the runtime checks).
  absl::StatusOr<runtime::GenerationResult> GenerateFromIds(
      std::span<const int32_t> prompt, const runtime::GenerationOptions& options,
      runtime::GenerateHooks hooks = {});
  // Prepare + the encoder run here, on the calling thread + Finish. The encoder is not
  // thread-safe: a service that also batches must run these through EncoderBatcher::RunExclusive.
  absl::StatusOr<EmbedResult> Embed(const std::vector<std::string>& texts,
                                    const EmbedOptions& options = {});
  // pairs: empty, or one second segment per text (NLI / sentence-pair classifiers).
  // truncate: as EmbedOptions::truncate.
  absl::StatusOr<ClassifyResult> Classify(const std::vector<std::string>& texts,
                                          const std::vector<std::string>& pairs = {},
                                          bool truncate = true);

  // The two-phase form (see EmbedPlan). Prepare* tokenize and validate (same errors as Embed /
  // Classify) and may run on many threads at once; Finish* take one EncodedInput per input, in
  // order, and from the same encoder outputs give Embed's / Classify's very bits (a forward shared
  // with other inputs rounds differently, ~1e-7 relative). INTERNAL if `encoded` does not fit.
  absl::StatusOr<EmbedPlan> PrepareEmbed(const std::vector<std::string>& texts,
                                         const EmbedOptions& options = {}) const;
  absl::StatusOr<EmbedResult> FinishEmbed(const EmbedPlan& plan,
                                          std::span<const runtime::EncodedInput> encoded) const;
  absl::StatusOr<ClassifyPlan> PrepareClassify(const std::vector<std::string>& texts,
                                               const std::vector<std::string>& pairs = {},
                                               bool truncate = true) const;
  absl::StatusOr<ClassifyResult> FinishClassify(
      const ClassifyPlan& plan, std::span<const runtime::EncodedInput> encoded) const;
  absl::StatusOr<ZeroShotResult> ZeroShot(const std::string& text,
                                          const std::vector<std::string>& labels,
                                          const ZeroShotOptions& options = {});

  // Longest input an encoder task accepts, in tokens.
  int max_input_tokens() const;

  // Explanations: the decoder's or encoder's DecoderModel / EncoderModel accessors of the same
  // names. LensLogits is FAILED_PRECONDITION for encoders (no LM head).
  absl::StatusOr<std::vector<float>> AttentionOutputWeight(int layer) const;
  float AttentionScale(int layer) const;
  absl::Status LensLogits(std::span<const float> states, int64_t rows, bool apply_final_norm,
                          std::vector<float>* logits);

 private:
  TaskModel() = default;
  // Input `index` of a batch, cut to the context or (truncate false) refused when too long.
  absl::StatusOr<TokenizedInput> Tokenize(const std::string& text, const std::string* pair,
                                          size_t index, bool truncate, size_t* truncated) const;

  model::LoadedModel model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<runtime::LmEngine> lm_;
  runtime::GenerationOptions gen_defaults_;
};

const char* ZeroShotMethodName(ZeroShotMethod m);

}  // namespace infer::tasks
