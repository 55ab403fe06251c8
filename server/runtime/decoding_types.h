// What every decoding strategy returns and the hooks it calls while it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "server/runtime/generation_options.h"
#include "server/runtime/sampler.h"
#include "server/runtime/stop_strings.h"

namespace infer::runtime {

enum class FinishReason { kLength, kEos, kStop };
const char* FinishReasonName(FinishReason reason);  // "length", "eos", "stop"

// One token as it is chosen. Greedy, sampling and contrastive search emit each token as soon as it
// is chosen; beam search can only know its tokens at the end and emits them all then, sequence by
// sequence, in the order of the result.
struct TokenEvent {
  int sequence_index = 0;  // index into GenerationResult::sequences
  int32_t token = -1;
  float logprob = 0.0f;                  // 0 unless options.logprobs or top_logprobs > 0
  std::vector<TokenLogprob> top_logprobs;  // options.top_logprobs entries, best first
};

struct GenerateHooks {
  std::function<void(const TokenEvent&)> on_token;  // may be empty
  // Polled before every model step; returning true ends the call with CANCELLED. May be empty.
  std::function<bool()> cancelled;
  // Needed only for stop_strings (INVALID_ARGUMENT without it when stop_strings are set).
  Detokenizer detokenize;
};

struct GeneratedSequence {
  // Generated tokens only (no prompt). A sequence ended by eos ends with the eos id; one ended by a
  // stop string keeps every token, the stop string included (see stop_offset).
  std::vector<int32_t> tokens;
  // When options.logprobs or top_logprobs > 0: one entry per token (see ComputeLogprobs; beam
  // search reports the processed log-softmax score it accumulated for the token; raw_logprobs
  // reports log_softmax of the model's logits instead).
  std::vector<float> logprobs;
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  FinishReason finish_reason = FinishReason::kLength;
  int stop_string_index = -1;  // kStop: which stop string
  size_t stop_offset = 0;      // kStop: byte offset of the stop string in the decoded tokens
  // Beam search: transformers' `sequences_scores` (sum of log-probs / generated_len^length_penalty).
  // Otherwise the sum of `logprobs` (0 when they were not asked for).
  double score = 0.0;
};

struct GenerationResult {
  DecodingMode mode = DecodingMode::kGreedy;
  int prompt_tokens = 0;
  uint64_t seed = 0;  // the seed used (sampling modes), to reproduce an unseeded request
  std::vector<GeneratedSequence> sequences;
};

}  // namespace infer::runtime
