// Checks shared by every decoding strategy, done once before any sequence is created: options
// against the model, the prompt, and the number of new tokens the model can hold.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

struct DecodeSetup {
  DecodingMode mode = DecodingMode::kGreedy;
  int prompt_len = 0;
  // ResolveMaxNewTokens, clipped so that prompt + new tokens fit in model.max_positions().
  int max_new_tokens = 0;
  bool want_logprobs = false;  // options.logprobs || options.top_logprobs > 0
  int top_logprobs = 0;
  bool raw_logprobs = false;   // options.raw_logprobs
};

// INVALID_ARGUMENT for bad options (naming the field), an empty prompt, prompt ids outside the
// vocabulary, a prompt that leaves the model no room, or stop_strings without a detokenizer.
absl::StatusOr<DecodeSetup> PrepareDecode(const CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks);

bool IsEos(const GenerationOptions& options, int32_t token);

// Appends a chosen token to *seq and streams it through hooks.on_token. When
// setup.want_logprobs, its log-probabilities come from `scores` (the processed scores it was
// chosen from) or, with setup.raw_logprobs, from `raw_logits` (the model's, unprocessed).
void EmitToken(int sequence_index, int32_t token, std::span<const float> scores,
               std::span<const float> raw_logits, const DecodeSetup& setup,
               const GenerateHooks& hooks, GeneratedSequence* seq);

// Whether *seq ends with its newest token (eos, then a stop string, then max_new_tokens); sets
// its finish reason (and stop string fields) when it does.
bool CheckFinished(const GenerationOptions& options, const DecodeSetup& setup,
                   const StopStringMatcher& stops, GeneratedSequence* seq);

}  // namespace infer::runtime
