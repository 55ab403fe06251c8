#include "server/runtime/generate.h"

#include <algorithm>

#include "server/runtime/logits_processors.h"
#include "server/runtime/score_math.h"
#include "server/runtime/sequence_pool.h"
#include "server/runtime/stop_strings.h"

namespace infer::runtime {

absl::StatusOr<GenerationResult> Generate(CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks) {
  absl::StatusOr<std::unique_ptr<Decoder>> decoder = MakeDecoder(model, prompt, options, hooks);
  if (!decoder.ok()) return decoder.status();
  return RunDecoder(model, **decoder, hooks);
}

namespace {

// Greedy search and multinomial sampling (transformers `_sample`), over one or more rows.
class SamplingDecoder final : public Decoder {
 public:
  SamplingDecoder(CausalLm& model, std::span<const int32_t> prompt,
                  const GenerationOptions& options, const DecodeSetup& setup,
                  const GenerateHooks& hooks)
      : model_(model), options_(options), setup_(setup), hooks_(hooks),
        pipeline_(BuildLogitsPipeline(options, setup.mode, setup.prompt_len)),
        stops_(options.stop_strings, hooks.detokenize), sampler_(options.seed), pool_(model),
        prompt_(prompt.begin(), prompt.end()) {
    sample_ = setup.mode == DecodingMode::kSample;
    result_.mode = setup.mode;
    result_.prompt_tokens = setup.prompt_len;
    result_.seed = sampler_.seed();
    result_.sequences.resize(sample_ ? options.num_return_sequences : 1);
  }

  absl::Status Start() {
    absl::StatusOr<SeqId> seq = pool_.New();
    if (!seq.ok()) return seq.status();
    pending_ = {StepItem{*seq, prompt_}};
    return absl::OkStatus();
  }

  absl::Status Advance(std::span<const float> logits, std::span<const float>) override {
    const int vocab = model_.vocab_size();
    if (logits.size() != pending_.size() * static_cast<size_t>(vocab))
      return absl::InternalError("sampling decoder: logits do not match the pending items");
    const bool prefill = rows_.empty();
    if (prefill) {
      // The prefill: every row continues the prompt's sequence, the first one itself.
      const SeqId first = pending_[0].seq;
      rows_.resize(result_.sequences.size());
      for (size_t r = 0; r < rows_.size(); ++r) {
        if (r == 0) {
          rows_[r].seq = first;
        } else {
          absl::StatusOr<SeqId> fork = pool_.Fork(first);
          if (!fork.ok()) return fork.status();
          rows_[r].seq = *fork;
        }
        rows_[r].ids = prompt_;
        pending_rows_.push_back(static_cast<int>(r));
      }
    }
    std::vector<float> scores(vocab);
    std::vector<StepItem> next;
    std::vector<int> next_rows;
    for (size_t i = 0; i < pending_rows_.size(); ++i) {
      const int r = pending_rows_[i];
      Row& row = rows_[r];
      const size_t src = prefill ? 0 : i;  // all rows share the prefill's logits
      std::copy_n(logits.begin() + src * vocab, vocab, scores.begin());
      pipeline_.Apply(row.ids, scores);
      const int32_t token = sample_ ? sampler_.Sample(scores) : Argmax(scores);
      row.ids.push_back(token);
      GeneratedSequence& seq = result_.sequences[r];
      EmitToken(r, token, scores, logits.subspan(src * vocab, vocab), setup_, hooks_, &seq);
      if (CheckFinished(options_, setup_, stops_, &seq)) {
        pool_.Release(row.seq);
      } else {
        next.push_back(StepItem{row.seq, {token}});
        next_rows.push_back(r);
      }
    }
    pending_ = std::move(next);
    pending_rows_ = std::move(next_rows);
    finished_ = pending_.empty();
    return absl::OkStatus();
  }

 private:
  struct Row {
    SeqId seq = -1;
    std::vector<int32_t> ids;  // prompt + generated
  };

  CausalLm& model_;
  const GenerationOptions options_;
  const DecodeSetup setup_;
  const GenerateHooks hooks_;
  const LogitsPipeline pipeline_;
  const StopStringMatcher stops_;
  Sampler sampler_;
  SequencePool pool_;
  const std::vector<int32_t> prompt_;
  bool sample_ = false;
  std::vector<Row> rows_;
  std::vector<int> pending_rows_;  // row of each pending item
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeSamplingDecoder(CausalLm& model,
                                                             std::span<const int32_t> prompt,
                                                             const GenerationOptions& options,
                                                             const DecodeSetup& setup,
                                                             const GenerateHooks& hooks) {
  auto decoder = std::make_unique<SamplingDecoder>(model, prompt, options, setup, hooks);
  if (absl::Status s = decoder->Start(); !s.ok()) return s;
  return decoder;
}

}  // namespace infer::runtime
