#include "server/runtime/decoder.h"

namespace infer::runtime {

absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(CausalLm& model,
                                                     std::span<const int32_t> prompt,
                                                     const GenerationOptions& options,
                                                     const GenerateHooks& hooks) {
  absl::StatusOr<DecodeSetup> setup = PrepareDecode(model, prompt, options, hooks);
  if (!setup.ok()) return setup.status();
  switch (setup->mode) {
    case DecodingMode::kGreedy:
    case DecodingMode::kSample:
      return MakeSamplingDecoder(model, prompt, options, *setup, hooks);
    case DecodingMode::kBeamSearch:
    case DecodingMode::kBeamSample:
      return MakeBeamSearchDecoder(model, prompt, options, *setup, hooks);
    case DecodingMode::kContrastive:
      return MakeContrastiveDecoder(model, prompt, options, *setup, hooks);
  }
  return absl::InternalError("unknown decoding mode");
}

absl::StatusOr<GenerationResult> RunDecoder(CausalLm& model, Decoder& decoder,
                                            const GenerateHooks& hooks) {
  StepOutput out;
  while (!decoder.finished()) {
    if (hooks.cancelled && hooks.cancelled()) return absl::CancelledError("generation cancelled");
    if (absl::Status s = model.Step(decoder.pending(), decoder.want_hidden(), &out); !s.ok())
      return s;
    if (absl::Status s = decoder.Advance(out.logits, out.hidden); !s.ok()) return s;
  }
  return decoder.TakeResult();
}

absl::Status RunBatched(CausalLm& model, std::span<Decoder* const> decoders) {
  const size_t vocab = static_cast<size_t>(model.vocab_size());
  const size_t hidden = static_cast<size_t>(model.hidden_size());
  std::vector<StepItem> items;
  std::vector<Decoder*> active;
  StepOutput out;
  while (true) {
    items.clear();
    active.clear();
    bool want_hidden = false;
    for (Decoder* d : decoders) {
      if (d->finished()) continue;
      active.push_back(d);
      items.insert(items.end(), d->pending().begin(), d->pending().end());
      want_hidden = want_hidden || d->want_hidden();
    }
    if (active.empty()) return absl::OkStatus();
    if (absl::Status s = model.Step(items, want_hidden, &out); !s.ok()) return s;
    size_t item = 0, token = 0;
    for (Decoder* d : active) {
      const size_t n = d->pending().size();
      size_t tokens = 0;
      for (const StepItem& it : d->pending()) tokens += it.tokens.size();
      std::span<const float> logits(out.logits.data() + item * vocab, n * vocab);
      std::span<const float> hid;
      if (want_hidden) hid = std::span<const float>(out.hidden.data() + token * hidden, tokens * hidden);
      item += n;
      token += tokens;
      if (absl::Status s = d->Advance(logits, d->want_hidden() ? hid : std::span<const float>());
          !s.ok())
        return s;
    }
  }
}

}  // namespace infer::runtime
