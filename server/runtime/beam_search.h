// Beam search as transformers 4.46 `_beam_search` with `BeamSearchScorer` and `BeamHypotheses`
// (batch size 1, one beam group):
//  - each step, beam b's next-token scores are log_softmax(logits) -> logits processors, plus the
//    beam's running score (float32); beams start as copies of the prompt, all but the first at -1e9;
//  - the best max(2, 1 + number of eos ids) * num_beams candidates over all beams are taken
//    (beam sampling: drawn without replacement from the softmax of those scores, then sorted);
//  - in rank order, an eos candidate among the first num_beams ranks finishes its beam as a
//    hypothesis scored sum_logprobs / generated_len ** length_penalty, where generated_len counts
//    the new tokens plus the eos (4.46 passes decoder_prompt_len, so the prompt is not counted);
//    other candidates fill the next num_beams beams;
//  - the search ends when BeamHypotheses::IsDone (early_stopping True / False / "never"), at
//    max_length, or when every beam's text holds a stop string; unfinished beams are then added as
//    hypotheses (unless done), and the num_return_sequences best are returned, best first, each
//    ending with eos_token_ids[0] when it is shorter than the longest returned one (finalize()).
// Beams share their prefix through CausalLm::Fork and are stepped as one batch
// (MakeBeamSearchDecoder in decoder.h). Tokens reach hooks.on_token only at the end. Per-token
// logprobs are the processed log-softmax scores the beam accumulated, so they sum to the
// hypothesis' sum_logprobs (not so with raw_logprobs).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decode_setup.h"
#include "server/runtime/decoder.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

struct BeamHypothesis {
  double score = 0.0;            // sum_logprobs / generated_len ** length_penalty
  std::vector<int32_t> tokens;   // generated tokens, without a finishing eos
  std::vector<float> logprobs;   // per token (when asked)
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  bool finished_by_eos = false;
  float eos_logprob = 0.0f;      // the finishing eos' score and alternatives (when asked)
  std::vector<TokenLogprob> eos_top_logprobs;
  int stop_string_index = -1;    // an unfinished beam that held a stop string at the end
  size_t stop_offset = 0;
};

// transformers' BeamHypotheses: the n best finished hypotheses of one input.
class BeamHypotheses {
 public:
  BeamHypotheses(int num_beams, double length_penalty, EarlyStopping early_stopping,
                 int max_length)
      : num_beams_(num_beams), length_penalty_(length_penalty),
        early_stopping_(early_stopping), max_length_(max_length) {}

  // Scores the hypothesis and keeps it if there is room or it beats the worst kept one.
  void Add(BeamHypothesis hyp, double sum_logprobs, int generated_len);
  // Whether no beam still running can beat the kept hypotheses. cur_len: prompt + tokens including
  // the one being scored; prompt_len: the decoder prompt length.
  bool IsDone(double best_sum_logprobs, int cur_len, int prompt_len) const;

  size_t size() const { return beams_.size(); }
  double worst_score() const { return worst_score_; }
  const std::vector<BeamHypothesis>& beams() const { return beams_; }
  // The k best, best first; equal scores: the one added later first (Python's stable sort + pop).
  std::vector<BeamHypothesis> Best(int k) const;

 private:
  int num_beams_;
  double length_penalty_;
  EarlyStopping early_stopping_;
  int max_length_;
  std::vector<BeamHypothesis> beams_;
  double worst_score_ = 1e9;
};

}  // namespace infer::runtime
