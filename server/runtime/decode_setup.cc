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
  return setup;
}

bool IsEos(const GenerationOptions& options, int32_t token) {
  return std::find(options.eos_token_ids.begin(), options.eos_token_ids.end(), token) !=
         options.eos_token_ids.end();
}

}  // namespace infer::runtime
