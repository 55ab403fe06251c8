#include "server/runtime/generate.h"

#include <algorithm>

#include "server/runtime/beam_search.h"
#include "server/runtime/contrastive_search.h"
#include "server/runtime/logits_processors.h"
#include "server/runtime/score_math.h"
#include "server/runtime/sequence_pool.h"
#include "server/runtime/stop_strings.h"

namespace infer::runtime {

absl::StatusOr<GenerationResult> Generate(CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks) {
  absl::StatusOr<DecodeSetup> setup = PrepareDecode(model, prompt, options, hooks);
  if (!setup.ok()) return setup.status();
  switch (setup->mode) {
    case DecodingMode::kGreedy:
    case DecodingMode::kSample:
      return RunGreedyOrSample(model, prompt, options, *setup, hooks);
    case DecodingMode::kBeamSearch:
    case DecodingMode::kBeamSample:
      return RunBeamSearch(model, prompt, options, *setup, hooks);
    case DecodingMode::kContrastive:
      return RunContrastiveSearch(model, prompt, options, *setup, hooks);
  }
  return absl::InternalError("unknown decoding mode");
}

absl::StatusOr<GenerationResult> RunGreedyOrSample(CausalLm& model,
                                                   std::span<const int32_t> prompt,
                                                   const GenerationOptions& options,
                                                   const DecodeSetup& setup,
                                                   const GenerateHooks& hooks) {
  const int vocab = model.vocab_size();
  const bool sample = setup.mode == DecodingMode::kSample;
  const int n = sample ? options.num_return_sequences : 1;
  const LogitsPipeline pipeline = BuildLogitsPipeline(options, setup.mode, setup.prompt_len);
  const StopStringMatcher stops(options.stop_strings, hooks.detokenize);
  Sampler sampler(options.seed);
  SequencePool pool(model);

  GenerationResult result;
  result.mode = setup.mode;
  result.prompt_tokens = setup.prompt_len;
  result.seed = sampler.seed();
  result.sequences.resize(n);

  if (hooks.cancelled && hooks.cancelled()) return absl::CancelledError("generation cancelled");
  absl::StatusOr<SeqId> first = pool.New();
  if (!first.ok()) return first.status();
  StepOutput out;
  {
    StepItem prefill{*first, std::vector<int32_t>(prompt.begin(), prompt.end())};
    if (absl::Status s = model.Step(std::span(&prefill, 1), false, &out); !s.ok()) return s;
  }

  struct Row {
    SeqId seq = -1;
    std::vector<int32_t> ids;  // prompt + generated
    bool done = false;
  };
  std::vector<Row> rows(n);
  // logits: [n, vocab], row r holds the next-token logits of rows[r].
  std::vector<float> logits(static_cast<size_t>(n) * vocab);
  for (int r = 0; r < n; ++r) {
    if (r == 0) {
      rows[r].seq = *first;
    } else {
      absl::StatusOr<SeqId> fork = pool.Fork(*first);
      if (!fork.ok()) return fork.status();
      rows[r].seq = *fork;
    }
    rows[r].ids.assign(prompt.begin(), prompt.end());
    std::copy_n(out.logits.begin(), vocab, logits.begin() + static_cast<size_t>(r) * vocab);
  }

  std::vector<float> scores(vocab);
  std::vector<StepItem> items;
  std::vector<int> item_rows;
  while (true) {
    items.clear();
    item_rows.clear();
    for (int r = 0; r < n; ++r) {
      Row& row = rows[r];
      if (row.done) continue;
      GeneratedSequence& seq_out = result.sequences[r];
      std::copy_n(logits.begin() + static_cast<size_t>(r) * vocab, vocab, scores.begin());
      pipeline.Apply(row.ids, scores);
      const int32_t token = sample ? sampler.Sample(scores) : Argmax(scores);
      row.ids.push_back(token);
      seq_out.tokens.push_back(token);

      TokenEvent event;
      event.sequence_index = r;
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
        row.done = true;
        seq_out.finish_reason = FinishReason::kEos;
      } else if (std::optional<StopMatch> m = stops.Check(seq_out.tokens)) {
        row.done = true;
        seq_out.finish_reason = FinishReason::kStop;
        seq_out.stop_string_index = m->index;
        seq_out.stop_offset = m->offset;
      } else if (static_cast<int>(seq_out.tokens.size()) >= setup.max_new_tokens) {
        row.done = true;
        seq_out.finish_reason = FinishReason::kLength;
      }
      if (!row.done) {
        items.push_back(StepItem{row.seq, {token}});
        item_rows.push_back(r);
      }
    }
    if (items.empty()) break;
    if (hooks.cancelled && hooks.cancelled()) return absl::CancelledError("generation cancelled");
    if (absl::Status s = model.Step(items, false, &out); !s.ok()) return s;
    for (size_t i = 0; i < item_rows.size(); ++i) {
      std::copy_n(out.logits.begin() + i * vocab, vocab,
                  logits.begin() + static_cast<size_t>(item_rows[i]) * vocab);
    }
  }
  return result;
}

}  // namespace infer::runtime
