#include "server/runtime/beam_search.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/sampler.h"
#include "server/runtime/score_math.h"
#include "server/runtime/sequence_pool.h"
#include "server/runtime/stop_strings.h"

namespace infer::runtime {

// ---------------------------------------------------------------- BeamHypotheses

void BeamHypotheses::Add(BeamHypothesis hyp, double sum_logprobs, int generated_len) {
  const double score = sum_logprobs / std::pow(static_cast<double>(generated_len), length_penalty_);
  if (static_cast<int>(beams_.size()) < num_beams_ || score > worst_score_) {
    hyp.score = score;
    beams_.push_back(std::move(hyp));
    if (static_cast<int>(beams_.size()) > num_beams_) {
      // Sort (score, index) pairs; drop the lowest, the next one becomes the worst.
      std::vector<std::pair<double, size_t>> order(beams_.size());
      for (size_t i = 0; i < beams_.size(); ++i) order[i] = {beams_[i].score, i};
      std::sort(order.begin(), order.end());
      beams_.erase(beams_.begin() + order[0].second);
      worst_score_ = order[1].first;
    } else {
      worst_score_ = std::min(score, worst_score_);
    }
  }
}

bool BeamHypotheses::IsDone(double best_sum_logprobs, int cur_len, int prompt_len) const {
  if (static_cast<int>(beams_.size()) < num_beams_) return false;
  switch (early_stopping_) {
    case EarlyStopping::kTrue:
      return true;
    case EarlyStopping::kHeuristic: {
      const double highest =
          best_sum_logprobs / std::pow(static_cast<double>(cur_len - prompt_len), length_penalty_);
      return worst_score_ >= highest;
    }
    case EarlyStopping::kNever: {
      // length_penalty > 0: the longest possible hypothesis has the highest attainable score.
      const int len = length_penalty_ > 0.0 ? max_length_ - prompt_len : cur_len - prompt_len;
      const double highest = best_sum_logprobs / std::pow(static_cast<double>(len), length_penalty_);
      return worst_score_ >= highest;
    }
  }
  return false;
}

std::vector<BeamHypothesis> BeamHypotheses::Best(int k) const {
  std::vector<BeamHypothesis> sorted = beams_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const BeamHypothesis& a, const BeamHypothesis& b) { return a.score < b.score; });
  std::vector<BeamHypothesis> best;
  for (int i = 0; i < k && !sorted.empty(); ++i) {
    best.push_back(std::move(sorted.back()));
    sorted.pop_back();
  }
  return best;
}

// ---------------------------------------------------------------- search

namespace {

struct Beam {
  SeqId seq = -1;
  std::vector<int32_t> ids;  // prompt + generated
  float score = 0.0f;        // running sum of processed log-probs (float32, as transformers)
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  std::optional<StopMatch> stop;
};

struct Candidate {
  float score;  // processed log-prob + beam score
  int32_t beam;
  int32_t token;
};

// The n best entries of scores [beams, vocab], best first (lower flat index first on ties).
std::vector<Candidate> TopCandidates(std::span<const float> scores, int vocab, int n) {
  std::vector<ScoredToken> top = TopN(scores, n);
  std::vector<Candidate> out;
  for (const ScoredToken& t : top) out.push_back({t.score, t.token / vocab, t.token % vocab});
  return out;
}

// Beam sampling: n draws without replacement from softmax(scores), sorted by score, descending.
std::vector<Candidate> SampledCandidates(std::span<const float> scores, int vocab, int n,
                                         Sampler& sampler) {
  std::vector<int32_t> drawn = sampler.SampleWithoutReplacement(scores, n);
  std::vector<Candidate> out;
  for (int32_t flat : drawn) out.push_back({scores[flat], flat / vocab, flat % vocab});
  if (static_cast<int>(drawn.size()) < n) {
    // Fewer tokens than n have nonzero probability (torch.multinomial would raise): fill up with
    // the best of the rest, which keep their (-inf) scores and so never win later.
    std::vector<char> taken(scores.size(), 0);
    for (int32_t flat : drawn) taken[flat] = 1;
    std::vector<int32_t> rest;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!taken[i]) rest.push_back(static_cast<int32_t>(i));
    }
    const size_t more = std::min(rest.size(), static_cast<size_t>(n) - drawn.size());
    std::partial_sort(rest.begin(), rest.begin() + more, rest.end(), [&](int32_t a, int32_t b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    for (size_t i = 0; i < more; ++i) out.push_back({scores[rest[i]], rest[i] / vocab, rest[i] % vocab});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  return out;
}

BeamHypothesis ToHypothesis(const Beam& beam, int prompt_len) {
  BeamHypothesis hyp;
  hyp.tokens.assign(beam.ids.begin() + prompt_len, beam.ids.end());
  hyp.logprobs = beam.logprobs;
  hyp.top_logprobs = beam.top_logprobs;
  if (beam.stop) {
    hyp.stop_string_index = beam.stop->index;
    hyp.stop_offset = beam.stop->offset;
  }
  return hyp;
}

}  // namespace

namespace {

// transformers `_beam_search` for one prompt, as a decoder.
class BeamSearchDecoder final : public Decoder {
 public:
  BeamSearchDecoder(CausalLm& model, std::span<const int32_t> prompt,
                    const GenerationOptions& options, const DecodeSetup& setup,
                    const GenerateHooks& hooks)
      : model_(model), options_(options), setup_(setup), hooks_(hooks),
        pipeline_(BuildLogitsPipeline(options, setup.mode, setup.prompt_len)),
        stops_(options.stop_strings, hooks.detokenize), sampler_(options.seed), pool_(model),
        prompt_(prompt.begin(), prompt.end()),
        hyps_(options.num_beams, options.length_penalty, options.early_stopping,
              setup.prompt_len + setup.max_new_tokens) {
    result_.mode = setup.mode;
    result_.prompt_tokens = setup.prompt_len;
    result_.seed = sampler_.seed();
  }

  absl::Status Start() {
    absl::StatusOr<SeqId> seq = pool_.New();
    if (!seq.ok()) return seq.status();
    pending_ = {StepItem{*seq, prompt_}};
    return absl::OkStatus();
  }

  absl::Status Advance(std::span<const float> logits, std::span<const float>) override;

 private:
  void Finalize();

  CausalLm& model_;
  const GenerationOptions options_;
  const DecodeSetup setup_;
  const GenerateHooks hooks_;
  const LogitsPipeline pipeline_;
  const StopStringMatcher stops_;
  Sampler sampler_;
  SequencePool pool_;
  const std::vector<int32_t> prompt_;
  BeamHypotheses hyps_;
  std::vector<Beam> beams_;
  bool done_ = false;
  bool stopped_by_strings_ = false;
};

absl::Status BeamSearchDecoder::Advance(std::span<const float> logits, std::span<const float>) {
  const int vocab = model_.vocab_size();
  const int num_beams = options_.num_beams;
  const int prompt_len = setup_.prompt_len;
  const int max_length = prompt_len + setup_.max_new_tokens;
  const int n_eos = static_cast<int>(options_.eos_token_ids.size());
  const int n_keep = std::max(2, 1 + n_eos) * num_beams;
  if (logits.size() != pending_.size() * static_cast<size_t>(vocab))
    return absl::InternalError("beam search: logits do not match the pending items");

  const bool prefill = beams_.empty();
  if (prefill) {
    // All beams start as the prompt on its one sequence; all but the first at -1e9.
    beams_.resize(num_beams);
    for (int b = 0; b < num_beams; ++b) {
      beams_[b].seq = pending_[0].seq;
      beams_[b].ids = prompt_;
      beams_[b].score = b == 0 ? 0.0f : -1e9f;
    }
  }

  // Scores of every (beam, token): processors(log_softmax(logits)) + beam score.
  std::vector<float> processed(static_cast<size_t>(num_beams) * vocab);  // [beams, vocab]
  std::vector<float> total(processed.size());
  for (int b = 0; b < num_beams; ++b) {
    const size_t src = prefill ? 0 : static_cast<size_t>(b);
    std::span<float> row(processed.data() + static_cast<size_t>(b) * vocab, vocab);
    LogSoftmax(logits.subspan(src * vocab, vocab), row);
    pipeline_.Apply(beams_[b].ids, row);
    for (int v = 0; v < vocab; ++v)
      total[static_cast<size_t>(b) * vocab + v] = row[v] + beams_[b].score;
  }
  const std::vector<Candidate> candidates =
      setup_.mode == DecodingMode::kBeamSample ? SampledCandidates(total, vocab, n_keep, sampler_)
                                               : TopCandidates(total, vocab, n_keep);

  // BeamSearchScorer.process
  const int cur_len = static_cast<int>(beams_[0].ids.size()) + 1;
  auto token_logprobs = [&](int b, int32_t token, float* logprob, std::vector<TokenLogprob>* top) {
    if (setup_.raw_logprobs) {
      const size_t src = prefill ? 0 : static_cast<size_t>(b);
      ChosenLogprobs lp = ComputeLogprobs(logits.subspan(src * vocab, vocab), token,
                                          setup_.top_logprobs);
      *logprob = lp.logprob;
      *top = std::move(lp.top);
      return;
    }
    std::span<const float> row(processed.data() + static_cast<size_t>(b) * vocab, vocab);
    *logprob = row[token];
    for (const ScoredToken& t : TopN(row, setup_.top_logprobs)) top->push_back({t.token, t.score});
  };
  std::vector<Beam> next;
  for (size_t rank = 0; rank < candidates.size(); ++rank) {
    const Candidate& c = candidates[rank];
    const Beam& src = beams_[c.beam];
    if (IsEos(options_, c.token)) {
      if (static_cast<int>(rank) >= num_beams) continue;
      BeamHypothesis hyp = ToHypothesis(src, prompt_len);
      hyp.stop_string_index = -1;
      hyp.finished_by_eos = true;
      if (setup_.want_logprobs)
        token_logprobs(c.beam, c.token, &hyp.eos_logprob, &hyp.eos_top_logprobs);
      hyps_.Add(std::move(hyp), c.score, cur_len - prompt_len);
    } else {
      Beam nb;
      nb.seq = src.seq;
      nb.ids = src.ids;
      nb.ids.push_back(c.token);
      nb.score = c.score;
      if (setup_.want_logprobs) {
        nb.logprobs = src.logprobs;
        nb.top_logprobs = src.top_logprobs;
        float lp = 0.0f;
        std::vector<TokenLogprob> top;
        token_logprobs(c.beam, c.token, &lp, &top);
        nb.logprobs.push_back(lp);
        nb.top_logprobs.push_back(std::move(top));
      }
      next.push_back(std::move(nb));
    }
    if (static_cast<int>(next.size()) == num_beams) break;
  }
  if (static_cast<int>(next.size()) < num_beams)
    return absl::InternalError(absl::StrCat("beam search found only ", next.size(),
                                            " non-eos candidates for ", num_beams, " beams"));
  done_ = done_ || hyps_.IsDone(candidates[0].score, cur_len, prompt_len);

  // Stopping criteria on the extended beams (transformers: every row must be done).
  bool all_stopped = !stops_.empty();
  if (!stops_.empty()) {
    for (Beam& nb : next) {
      nb.stop = stops_.Check(std::span<const int32_t>(nb.ids).subspan(prompt_len));
      all_stopped = all_stopped && nb.stop.has_value();
    }
  }
  const bool at_max = cur_len >= max_length;
  if (done_ || at_max || all_stopped) {
    stopped_by_strings_ = all_stopped && !at_max && !done_;
    beams_ = std::move(next);
    Finalize();
    return absl::OkStatus();
  }

  // Give every new beam a sequence: the first beam to continue a sequence takes it over, the
  // others fork it (before the step appends to it); sequences nobody continues are released.
  absl::flat_hash_set<SeqId> claimed;
  for (Beam& nb : next) {
    if (claimed.insert(nb.seq).second) continue;
    absl::StatusOr<SeqId> fork = pool_.Fork(nb.seq);
    if (!fork.ok()) return fork.status();
    nb.seq = *fork;
  }
  for (const Beam& old : beams_) {
    if (claimed.insert(old.seq).second) pool_.Release(old.seq);  // each shared one once
  }
  beams_ = std::move(next);
  pending_.resize(num_beams);
  for (int b = 0; b < num_beams; ++b) pending_[b] = StepItem{beams_[b].seq, {beams_[b].ids.back()}};
  return absl::OkStatus();
}

// BeamSearchScorer.finalize
void BeamSearchDecoder::Finalize() {
  pool_.ReleaseAll();  // the search is over: give the KV blocks back before the results go out
  pending_.clear();
  finished_ = true;
  const int prompt_len = setup_.prompt_len;
  const int max_length = prompt_len + setup_.max_new_tokens;
  if (!done_) {
    for (const Beam& beam : beams_) {
      hyps_.Add(ToHypothesis(beam, prompt_len), beam.score,
                static_cast<int>(beam.ids.size()) - prompt_len);
    }
  }
  std::vector<BeamHypothesis> best = hyps_.Best(options_.num_return_sequences);
  int longest = 0;
  for (const BeamHypothesis& h : best)
    longest = std::max(longest, prompt_len + static_cast<int>(h.tokens.size()));
  const int sent_max_len = std::min(longest + 1, max_length);
  for (BeamHypothesis& h : best) {
    GeneratedSequence seq;
    seq.tokens = std::move(h.tokens);
    seq.logprobs = std::move(h.logprobs);
    seq.top_logprobs = std::move(h.top_logprobs);
    seq.score = h.score;
    if (prompt_len + static_cast<int>(seq.tokens.size()) < sent_max_len &&
        !options_.eos_token_ids.empty()) {
      seq.tokens.push_back(options_.eos_token_ids[0]);
      if (setup_.want_logprobs) {
        seq.logprobs.push_back(h.eos_logprob);
        seq.top_logprobs.push_back(std::move(h.eos_top_logprobs));
      }
    }
    if (h.finished_by_eos) {
      seq.finish_reason = FinishReason::kEos;
    } else if (stopped_by_strings_ && h.stop_string_index >= 0) {
      seq.finish_reason = FinishReason::kStop;
      seq.stop_string_index = h.stop_string_index;
      seq.stop_offset = h.stop_offset;
    } else {
      seq.finish_reason = FinishReason::kLength;
    }
    result_.sequences.push_back(std::move(seq));
  }

  if (!hooks_.on_token) return;
  for (size_t i = 0; i < result_.sequences.size(); ++i) {
    const GeneratedSequence& seq = result_.sequences[i];
    for (size_t t = 0; t < seq.tokens.size(); ++t) {
      TokenEvent event;
      event.sequence_index = static_cast<int>(i);
      event.token = seq.tokens[t];
      if (t < seq.logprobs.size()) {
        event.logprob = seq.logprobs[t];
        event.top_logprobs = seq.top_logprobs[t];
      }
      hooks_.on_token(event);
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeBeamSearchDecoder(CausalLm& model,
                                                               std::span<const int32_t> prompt,
                                                               const GenerationOptions& options,
                                                               const DecodeSetup& setup,
                                                               const GenerateHooks& hooks) {
  auto decoder = std::make_unique<BeamSearchDecoder>(model, prompt, options, setup, hooks);
  if (absl::Status s = decoder->Start(); !s.ok()) return s;
  return decoder;
}

}  // namespace infer::runtime
