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

absl::StatusOr<GenerationResult> RunContrastiveSearch(CausalLm& model,
                                                      std::span<const int32_t> prompt,
                                                      const GenerationOptions& options,
                                                      const DecodeSetup& setup,
                                                      const GenerateHooks& hooks) {
  const int vocab = model.vocab_size();
  const int hidden = model.hidden_size();
  const int k = std::min(options.top_k, vocab);
  const LogitsPipeline pipeline = BuildLogitsPipeline(options, setup.mode, setup.prompt_len);
  const StopStringMatcher stops(options.stop_strings, hooks.detokenize);
  SequencePool pool(model);

  GenerationResult result;
  result.mode = setup.mode;
  result.prompt_tokens = setup.prompt_len;
  result.sequences.resize(1);
  GeneratedSequence& seq_out = result.sequences[0];

  if (hooks.cancelled && hooks.cancelled()) return absl::CancelledError("generation cancelled");
  absl::StatusOr<SeqId> first = pool.New();
  if (!first.ok()) return first.status();
  SeqId seq = *first;
  StepOutput out;
  {
    StepItem prefill{seq, std::vector<int32_t>(prompt.begin(), prompt.end())};
    if (absl::Status s = model.Step(std::span(&prefill, 1), true, &out); !s.ok()) return s;
  }
  if (out.hidden.size() != prompt.size() * static_cast<size_t>(hidden))
    return absl::InternalError(absl::StrCat("contrastive search needs hidden states: got ",
                                            out.hidden.size(), " floats for ", prompt.size(),
                                            " positions of ", hidden));
  std::vector<float> context = out.hidden;  // [positions, hidden]
  std::vector<float> logits(out.logits.begin(), out.logits.begin() + vocab);
  std::vector<int32_t> ids(prompt.begin(), prompt.end());

  std::vector<float> scores(vocab), probs(vocab);
  std::vector<float> top_probs(k);
  std::vector<SeqId> cand_seqs(k);
  std::vector<StepItem> items(k);
  while (true) {
    scores = logits;
    pipeline.Apply(ids, scores);
    Softmax(scores, probs);
    const std::vector<ScoredToken> top = TopN(probs, k);

    // Candidate i continues a sequence of its own: the original for i = 0, forks for the rest.
    cand_seqs[0] = seq;
    for (int i = 1; i < k; ++i) {
      absl::StatusOr<SeqId> fork = pool.Fork(seq);
      if (!fork.ok()) return fork.status();
      cand_seqs[i] = *fork;
    }
    for (int i = 0; i < k; ++i) {
      items[i] = StepItem{cand_seqs[i], {top[i].token}};
      top_probs[i] = top[i].score;
    }
    if (hooks.cancelled && hooks.cancelled()) return absl::CancelledError("generation cancelled");
    if (absl::Status s = model.Step(items, true, &out); !s.ok()) return s;
    if (out.hidden.size() != static_cast<size_t>(k) * hidden)
      return absl::InternalError("contrastive search: the model returned no candidate hidden states");

    const int chosen = ContrastiveRank(context, out.hidden, top_probs, hidden, options.penalty_alpha);
    for (int i = 0; i < k; ++i) {
      if (i != chosen) pool.Release(cand_seqs[i]);
    }
    seq = cand_seqs[chosen];
    const int32_t token = top[chosen].token;
    context.insert(context.end(), out.hidden.begin() + static_cast<size_t>(chosen) * hidden,
                   out.hidden.begin() + static_cast<size_t>(chosen + 1) * hidden);
    logits.assign(out.logits.begin() + static_cast<size_t>(chosen) * vocab,
                  out.logits.begin() + static_cast<size_t>(chosen + 1) * vocab);
    ids.push_back(token);
    seq_out.tokens.push_back(token);

    TokenEvent event;
    event.token = token;
    if (setup.want_logprobs) {
      ChosenLogprobs lp = ComputeLogprobs(scores, token, setup.top_logprobs);
      event.logprob = lp.logprob;
      event.top_logprobs = lp.top;
      seq_out.logprobs.push_back(lp.logprob);
      seq_out.top_logprobs.push_back(std::move(lp.top));
      seq_out.score += lp.logprob;
    }
    if (hooks.on_token) hooks.on_token(event);

    if (IsEos(options, token)) {
      seq_out.finish_reason = FinishReason::kEos;
      break;
    }
    if (std::optional<StopMatch> m = stops.Check(seq_out.tokens)) {
      seq_out.finish_reason = FinishReason::kStop;
      seq_out.stop_string_index = m->index;
      seq_out.stop_offset = m->offset;
      break;
    }
    if (static_cast<int>(seq_out.tokens.size()) >= setup.max_new_tokens) {
      seq_out.finish_reason = FinishReason::kLength;
      break;
    }
  }
  return result;
}

}  // namespace infer::runtime
