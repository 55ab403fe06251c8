// Text generation over a CausalLm with the semantics of transformers 4.46 `generate()`.
//
// Generate() picks the strategy from the options (ResolveDecodingMode) and runs it:
//   greedy / sampling   RunGreedyOrSample (here)   transformers `_sample`
//   beam search / beam sampling   beam_search.h     transformers `_beam_search`
//   contrastive search            contrastive_search.h  transformers `_contrastive_search`
// Every sequence a call creates is released before it returns, on every path.
//
// Stopping: a sequence ends when it emits any eos id (kept as its last token), when a stop string
// appears in its decoded text (all tokens kept, see stop_strings.h), or after max_new_tokens
// (or when the model has no more positions): finish reasons "eos", "stop", "length".
// Cancellation (hooks.cancelled) is polled before each model step and ends the call with CANCELLED;
// tokens already streamed through hooks.on_token stay sent.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decode_setup.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

absl::StatusOr<GenerationResult> Generate(CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks = {});

// Greedy (argmax of the processed scores, first index on ties) or multinomial sampling from the
// warped scores. num_return_sequences > 1 (sampling only) forks the prefilled prompt into that many
// sequences, stepped together as one batch; they draw from one generator in sequence order.
absl::StatusOr<GenerationResult> RunGreedyOrSample(CausalLm& model,
                                                   std::span<const int32_t> prompt,
                                                   const GenerationOptions& options,
                                                   const DecodeSetup& setup,
                                                   const GenerateHooks& hooks);

}  // namespace infer::runtime
