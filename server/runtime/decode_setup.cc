#include "server/runtime/decode_setup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace infer::runtime {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
  }
  return "unknown";
}

absl::StatusOr<DecodeSetup> PrepareDecode(const CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks) {
  const int vocab = model.vocab_size();
  if (absl::Status s = ValidateGenerationOptions(options, vocab); !s.ok()) return s;
  if (prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= vocab)
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " (id ", prompt[i],
                                                     ") is outside the vocabulary of ", vocab));
  }
  if (!options.stop_strings.empty() && !hooks.detokenize)
    return absl::InvalidArgumentError("stop_strings need a detokenizer for this model");

  DecodeSetup setup;
  setup.mode = ResolveDecodingMode(options);
  setup.prompt_len = static_cast<int>(prompt.size());
  const int room = model.max_positions() - setup.prompt_len;
  if (room <= 0)
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", prompt.size(),
                                                   " tokens; the model holds at most ",
                                                   model.max_positions(),
                                                   " and needs room for one new token"));
  setup.max_new_tokens = std::min(ResolveMaxNewTokens(options, setup.prompt_len), room);
  setup.want_logprobs = options.logprobs || options.top_logprobs > 0;
  setup.top_logprobs = options.top_logprobs;
  setup.raw_logprobs = options.raw_logprobs;
  return setup;
}

bool IsEos(const GenerationOptions& options, int32_t token) {
  return std::find(options.eos_token_ids.begin(), options.eos_token_ids.end(), token) !=
         options.eos_token_ids.end();
}

void EmitToken(int sequence_index, int32_t token, std::span<const float> scores,
               std::span<const float> raw_logits, const DecodeSetup& setup,
               const GenerateHooks& hooks, GeneratedSequence* seq) {
  seq->tokens.push_back(token);
  TokenEvent event;
  event.sequence_index = sequence_index;
  event.token = token;
  if (setup.want_logprobs) {
    ChosenLogprobs lp =
        ComputeLogprobs(setup.raw_logprobs ? raw_logits : scores, token, setup.top_logprobs);
    event.logprob = lp.logprob;
    event.top_logprobs = lp.top;
    seq->logprobs.push_back(lp.logprob);
    seq->top_logprobs.push_back(std::move(lp.top));
    seq->score += lp.logprob;
  }
  if (hooks.on_token) hooks.on_token(event);
}

bool CheckFinished(const GenerationOptions& options, const DecodeSetup& setup,
                   const StopStringMatcher& stops, GeneratedSequence* seq) {
  if (IsEos(options, seq->tokens.back())) {
    seq->finish_reason = FinishReason::kEos;
    return true;
  }
  if (std::optional<StopMatch> m = stops.Check(seq->tokens)) {
    seq->finish_reason = FinishReason::kStop;
    seq->stop_string_index = m->index;
    seq->stop_offset = m->offset;
    return true;
  }
  if (static_cast<int>(seq->tokens.size()) >= setup.max_new_tokens) {
    seq->finish_reason = FinishReason::kLength;
    return true;
  }
  return false;
}

}  // namespace infer::runtime
