// Every knob of a Generate request, with the defaults and the meaning of Hugging Face transformers
// 4.46 `GenerationConfig`, and the rules that pick a decoding strategy from them.
//
// Defaults come in three layers: the transformers defaults below, then a model folder's
// `generation_config.json` (MergeGenerationConfigJson), then what a request sets explicitly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace infer::runtime {

// transformers' `early_stopping` for beam search: False (heuristic), True (stop as soon as
// num_beams hypotheses are finished), "never" (stop only when no better hypothesis can appear).
enum class EarlyStopping { kHeuristic, kTrue, kNever };

enum class DecodingMode { kGreedy, kSample, kBeamSearch, kBeamSample, kContrastive };
const char* DecodingModeName(DecodingMode mode);

struct GenerationOptions {
  // ---- length ----
  // New tokens to generate at most. When unset, max_length (prompt + new) applies instead, and when
  // that is unset too, transformers' default max_length of 20.
  std::optional<int> max_new_tokens;
  std::optional<int> max_length;
  int min_new_tokens = 0;  // eos ids are banned until this many new tokens exist
  int min_length = 0;      // eos ids are banned while prompt + new tokens < min_length

  // ---- strategy ----  (real-valued knobs are doubles, like the Python floats transformers keeps
  // them in; they become float32 where they meet the float32 scores, as in torch)
  bool do_sample = false;
  // Softmax temperature for sampling. 0 means greedy (unlike transformers, which rejects it).
  double temperature = 1.0;
  int top_k = 50;        // 0 disables; also the candidate count of contrastive search
  double top_p = 1.0;    // in (0, 1]; 1 disables
  double min_p = 0.0;    // in [0, 1]; 0 disables
  double repetition_penalty = 1.0;  // > 0; 1 disables
  int no_repeat_ngram_size = 0;     // 0 disables
  std::vector<std::vector<int32_t>> bad_words_ids;
  int num_beams = 1;
  double length_penalty = 1.0;
  EarlyStopping early_stopping = EarlyStopping::kHeuristic;
  int num_return_sequences = 1;
  double penalty_alpha = 0.0;  // > 0 with top_k > 1 and no sampling: contrastive search

  // ---- special tokens and stopping ----
  std::vector<int32_t> eos_token_ids;  // any of them ends a sequence
  std::optional<int32_t> pad_token_id;
  std::vector<std::string> stop_strings;

  // ---- randomness and outputs ----
  std::optional<uint64_t> seed;  // unset: a random seed per request
  bool logprobs = false;         // per-token log-probabilities (see sampler.h for which)
  int top_logprobs = 0;          // and the N most likely alternatives at each step
  // Report log_softmax of the model's raw logits (transformers' `output_logits`), before any
  // processor or warper, instead of the processed scores the token was chosen from.
  bool raw_logprobs = false;
};

// The strategy transformers' `GenerationConfig.get_generation_mode` would pick (temperature 0
// turns sampling off first).
DecodingMode ResolveDecodingMode(const GenerationOptions& options);

// Checks every field; INVALID_ARGUMENT naming the field on the first violation. vocab_size <= 0
// skips the token-range checks.
absl::Status ValidateGenerationOptions(const GenerationOptions& options, int vocab_size);

// New tokens the request may generate given the prompt length (max_new_tokens, else max_length -
// prompt_len, else 20 - prompt_len; at least 1 as in transformers).
int ResolveMaxNewTokens(const GenerationOptions& options, int prompt_len);

// Overlays the fields present in a `generation_config.json` (or the generation-related fields of a
// `config.json`) onto *options. Unknown keys are ignored; null values leave the field as it is;
// wrongly typed values are INVALID_ARGUMENT naming the key.
absl::Status MergeGenerationConfigJson(const nlohmann::json& config, GenerationOptions* options);

// Defaults for a model folder as transformers sets `model.generation_config`: transformers' defaults
// overlaid with `generation_config.json` when the folder has one, else with `config.json`'s
// generation fields (eos/pad ids and any sampling keys it carries). A folder with neither file
// gets the plain defaults.
absl::StatusOr<GenerationOptions> LoadGenerationDefaults(const std::string& model_folder);

}  // namespace infer::runtime
