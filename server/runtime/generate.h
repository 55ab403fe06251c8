// Text generation over a CausalLm with the semantics of transformers 4.46 `generate()`.
//
// Generate() picks the strategy from the options (ResolveDecodingMode) and runs its decoder
// (decoder.h) to the end on its own:
//   greedy / sampling            MakeSamplingDecoder (generate.cc)   transformers `_sample`
//   beam search / beam sampling  beam_search.h                       transformers `_beam_search`
//   contrastive search           contrastive_search.h       transformers `_contrastive_search`
// Every sequence a call creates is released before it returns, on every path.
//
// Stopping: a sequence ends when it emits any eos id (kept as its last token), when a stop string
// appears in its decoded text (all tokens kept, see stop_strings.h), or after max_new_tokens
// (or when the model has no more positions): finish reasons "eos", "stop", "length".
// Cancellation (hooks.cancelled) is polled before each model step and ends the call with CANCELLED;
// tokens already streamed through hooks.on_token stay sent.
//
// Greedy takes the argmax of the processed scores (first index on ties); sampling draws from the
// warped scores with the seeded Sampler. num_return_sequences > 1 (sampling only) forks the
// prefilled prompt into that many sequences, stepped together as one batch; they draw from one
// generator in sequence order.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decoder.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

absl::StatusOr<GenerationResult> Generate(CausalLm& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const GenerateHooks& hooks = {});

}  // namespace infer::runtime
