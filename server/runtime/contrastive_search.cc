#include "server/runtime/contrastive_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/score_math.h"
#include "server/runtime/sequence_pool.h"
#include "server/runtime/stop_strings.h"

namespace infer::runtime {
namespace {

// x / ||x||, computed in double and stored in float as torch does in float32.
void Normalize(std::span<const float> x, std::span<float> out) {
  double sq = 0.0;
  for (float v : x) sq += static_cast<double>(v) * v;
  const float norm = static_cast<float>(std::sqrt(sq));
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] / norm;
}

double Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

int ContrastiveRank(std::span<const float> context, std::span<const float> candidates,
                    std::span<const float> probs, int hidden, double alpha) {
  const size_t context_len = context.size() / hidden;
  const size_t k = probs.size();
  std::vector<float> norm_context(context.size()), norm_cand(hidden);
  for (size_t j = 0; j < context_len; ++j) {
    Normalize(context.subspan(j * hidden, hidden),
              std::span<float>(norm_context).subspan(j * hidden, hidden));
  }
  // (1 - alpha) and alpha are Python floats applied to float32 tensors: cast to float first.
  const float keep = static_cast<float>(1.0 - alpha);
  const float a = static_cast<float>(alpha);
  int best = 0;
  float best_score = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < k; ++i) {
    Normalize(candidates.subspan(i * hidden, hidden), norm_cand);
    float penalty = -std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < context_len; ++j) {
      penalty = std::max(penalty, static_cast<float>(Dot(
                                      std::span<const float>(norm_context).subspan(j * hidden, hidden),
                                      norm_cand)));
    }
    const float score = keep * probs[i] - a * penalty;
    if (i == 0 || score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

namespace {

// transformers `_contrastive_search` for one prompt, as a decoder: each Advance consumes the
// candidates' step, keeps the best one and forks the candidates of the next token.
class ContrastiveDecoder final : public Decoder {
 public:
  ContrastiveDecoder(CausalLm& model, std::span<const int32_t> prompt,
                     const GenerationOptions& options, const DecodeSetup& setup,
                     const GenerateHooks& hooks)
      : model_(model), options_(options), setup_(setup), hooks_(hooks),
        pipeline_(BuildLogitsPipeline(options, setup.mode, setup.prompt_len)),
        stops_(options.stop_strings, hooks.detokenize), pool_(model),
        ids_(prompt.begin(), prompt.end()), k_(std::min(options.top_k, model.vocab_size())) {
    want_hidden_ = true;
    result_.mode = setup.mode;
    result_.prompt_tokens = setup.prompt_len;
    result_.sequences.resize(1);
  }

  absl::Status Start() {
    absl::StatusOr<SeqId> seq = pool_.New();
    if (!seq.ok()) return seq.status();
    pending_ = {StepItem{*seq, ids_}};
    return absl::OkStatus();
  }

  absl::Status Advance(std::span<const float> logits, std::span<const float> hidden) override;

 private:
  // Processes next_logits_, picks the top-k candidates and forks a sequence for each.
  absl::Status PrepareCandidates(SeqId seq);

  CausalLm& model_;
  const GenerationOptions options_;
  const DecodeSetup setup_;
  const GenerateHooks hooks_;
  const LogitsPipeline pipeline_;
  const StopStringMatcher stops_;
  SequencePool pool_;
  std::vector<int32_t> ids_;     // prompt + generated
  const int k_;
  bool prefilled_ = false;
  std::vector<float> context_;   // [positions, hidden]: prompt and chosen tokens
  std::vector<float> next_logits_;
  std::vector<float> scores_;    // processed scores the candidates were taken from
  std::vector<float> raw_;       // and the model's logits they came from
  std::vector<ScoredToken> candidates_;  // token, probability
};

absl::Status ContrastiveDecoder::Advance(std::span<const float> logits,
                                         std::span<const float> hidden) {
  const int vocab = model_.vocab_size();
  const size_t h = static_cast<size_t>(model_.hidden_size());
  if (logits.size() != pending_.size() * static_cast<size_t>(vocab))
    return absl::InternalError("contrastive search: logits do not match the pending items");
  size_t tokens = 0;
  for (const StepItem& item : pending_) tokens += item.tokens.size();
  if (hidden.size() != tokens * h)
    return absl::InternalError(absl::StrCat("contrastive search needs hidden states: got ",
                                            hidden.size(), " floats for ", tokens,
                                            " positions of ", h));
  if (!prefilled_) {
    prefilled_ = true;
    context_.assign(hidden.begin(), hidden.end());
    next_logits_.assign(logits.begin(), logits.end());
    return PrepareCandidates(pending_[0].seq);
  }

  std::vector<float> probs(candidates_.size());
  for (size_t i = 0; i < candidates_.size(); ++i) probs[i] = candidates_[i].score;
  const int chosen = ContrastiveRank(context_, hidden, probs, static_cast<int>(h),
                                     options_.penalty_alpha);
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (static_cast<int>(i) != chosen) pool_.Release(pending_[i].seq);
  }
  const SeqId seq = pending_[chosen].seq;
  const int32_t token = candidates_[chosen].token;
  context_.insert(context_.end(), hidden.begin() + chosen * h, hidden.begin() + (chosen + 1) * h);
  next_logits_.assign(logits.begin() + static_cast<size_t>(chosen) * vocab,
                      logits.begin() + static_cast<size_t>(chosen + 1) * vocab);
  ids_.push_back(token);
  GeneratedSequence& out = result_.sequences[0];
  EmitToken(0, token, scores_, raw_, setup_, hooks_, &out);
  if (CheckFinished(options_, setup_, stops_, &out)) {
    pool_.ReleaseAll();
    pending_.clear();
    finished_ = true;
    return absl::OkStatus();
  }
  return PrepareCandidates(seq);
}

absl::Status ContrastiveDecoder::PrepareCandidates(SeqId seq) {
  scores_ = next_logits_;
  raw_ = next_logits_;
  pipeline_.Apply(ids_, scores_);
  std::vector<float> probs(scores_.size());
  Softmax(scores_, probs);
  candidates_ = TopN(probs, k_);
  // Candidate i continues a sequence of its own: the current one for i = 0, forks for the rest.
  pending_.assign(k_, StepItem{});
  for (int i = 0; i < k_; ++i) {
    SeqId cand = seq;
    if (i > 0) {
      absl::StatusOr<SeqId> fork = pool_.Fork(seq);
      if (!fork.ok()) return fork.status();
      cand = *fork;
    }
    pending_[i] = StepItem{cand, {candidates_[i].token}};
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeContrastiveDecoder(CausalLm& model,
                                                                std::span<const int32_t> prompt,
                                                                const GenerationOptions& options,
                                                                const DecodeSetup& setup,
                                                                const GenerateHooks& hooks) {
  auto decoder = std::make_unique<ContrastiveDecoder>(model, prompt, options, setup, hooks);
  if (absl::Status s = decoder->Start(); !s.ok()) return s;
  return decoder;
}

}  // namespace infer::runtime
