// One request's decoding as a state machine the caller drives one model step at a time, so that a
// scheduler can run the steps of many requests as one batch (iteration-level batching):
//
//   auto dec = MakeDecoder(model, prompt, options, hooks);   // creates the prompt's sequence
//   while (!dec->finished()) {
//     // run dec->pending() through CausalLm::Step, alone or inside a larger batch
//     dec->Advance(logits rows of those items, hidden rows of their tokens);
//   }
//   GenerationResult r = dec->TakeResult();
//
// A decoder creates, forks and releases its sequences itself (through the CausalLm it was made
// with) but never calls Step. Destroying it releases whatever it still holds, so dropping a
// cancelled or failed request frees its KV blocks; a finished decoder has already released them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decode_setup.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

class Decoder {
 public:
  virtual ~Decoder() = default;

  // The items this request needs from the next model step; empty once finished.
  std::span<const StepItem> pending() const { return pending_; }
  // Whether that step must return hidden states (contrastive search).
  bool want_hidden() const { return want_hidden_; }
  bool finished() const { return finished_; }

  // Consumes the outputs of pending(): logits [pending().size(), vocab] in item order, and when
  // want_hidden(), hidden [total tokens of pending(), hidden_size]. Chooses tokens (streaming them
  // through hooks.on_token), forks and releases sequences, and sets the next pending items. After
  // an error the decoder is unusable; destroy it.
  virtual absl::Status Advance(std::span<const float> logits, std::span<const float> hidden) = 0;

  // The result, once finished().
  GenerationResult TakeResult() { return std::move(result_); }

 protected:
  std::vector<StepItem> pending_;
  bool want_hidden_ = false;
  bool finished_ = false;
  GenerationResult result_;
};

// Checks the request (PrepareDecode) and builds the decoder of its strategy; its first pending()
// is the prompt's prefill. INVALID_ARGUMENT for a bad request, the model's error if it cannot
// create the sequence.
absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(CausalLm& model,
                                                     std::span<const int32_t> prompt,
                                                     const GenerationOptions& options,
                                                     const GenerateHooks& hooks);

// The strategies, for callers that already ran PrepareDecode.
absl::StatusOr<std::unique_ptr<Decoder>> MakeSamplingDecoder(CausalLm& model,
                                                             std::span<const int32_t> prompt,
                                                             const GenerationOptions& options,
                                                             const DecodeSetup& setup,
                                                             const GenerateHooks& hooks);
absl::StatusOr<std::unique_ptr<Decoder>> MakeBeamSearchDecoder(CausalLm& model,
                                                               std::span<const int32_t> prompt,
                                                               const GenerationOptions& options,
                                                               const DecodeSetup& setup,
                                                               const GenerateHooks& hooks);
absl::StatusOr<std::unique_ptr<Decoder>> MakeContrastiveDecoder(CausalLm& model,
                                                                std::span<const int32_t> prompt,
                                                                const GenerationOptions& options,
                                                                const DecodeSetup& setup,
                                                                const GenerateHooks& hooks);

// Drives a decoder to the end on its own, one CausalLm::Step per decoding step, polling
// hooks.cancelled before each step (CANCELLED when it says so).
absl::StatusOr<GenerationResult> RunDecoder(CausalLm& model, Decoder& decoder,
                                            const GenerateHooks& hooks);

// Drives several decoders to the end together: each iteration concatenates the pending items of
// every unfinished decoder into one CausalLm::Step (with hidden states when any decoder wants
// them) and hands each decoder its rows. What an iteration-level scheduler does, without
// admission control; results are then taken from each decoder.
absl::Status RunBatched(CausalLm& model, std::span<Decoder* const> decoders);

}  // namespace infer::runtime
