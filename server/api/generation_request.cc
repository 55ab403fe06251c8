#include "server/api/generation_request.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

absl::Status Invalid(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<std::vector<int32_t>> PromptIds(const infer::v1::GenerateRequest& r,
                                               const tasks::TaskModel& model) {
  const bool has_text = !r.prompt().empty();
  const bool has_ids = r.prompt_token_ids_size() > 0;
  if (has_text == has_ids) {
    return Invalid("prompt", "exactly one of prompt and prompt_token_ids must be set");
  }
  std::vector<int32_t> ids;
  if (has_text) {
    ids = model.tokenizer().Encode(r.prompt(), /*add_special_tokens=*/true).ids;
    if (ids.empty()) return Invalid("prompt", "the text has no tokens");
  } else {
    const int vocab = model.info().vocab_size;
    for (int i = 0; i < r.prompt_token_ids_size(); ++i) {
      int32_t id = r.prompt_token_ids(i);
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids[", i, "]: ", id,
                                                       " is outside the vocabulary [0, ", vocab,
                                                       ")"));
      }
      ids.push_back(id);
    }
  }
  const int context = model.max_input_tokens();
  if (static_cast<int>(ids.size()) >= context) {
    return Invalid("prompt", absl::StrCat(ids.size(), " tokens leave no room for a new token in ",
                                          "the model's context of ", context, " tokens"));
  }
  return ids;
}

absl::Status ApplyRequest(const infer::v1::GenerateRequest& r, const tasks::TaskModel& model,
                          runtime::GenerationOptions* o) {
  if (r.has_max_new_tokens()) o->max_new_tokens = r.max_new_tokens();
  if (r.has_max_length()) o->max_length = r.max_length();
  if (r.has_min_new_tokens()) o->min_new_tokens = r.min_new_tokens();
  if (r.has_min_length()) o->min_length = r.min_length();
  if (r.has_do_sample()) o->do_sample = r.do_sample();
  if (r.has_temperature()) o->temperature = r.temperature();
  if (r.has_top_k()) o->top_k = r.top_k();
  if (r.has_top_p()) o->top_p = r.top_p();
  if (r.has_min_p()) o->min_p = r.min_p();
  if (r.has_repetition_penalty()) o->repetition_penalty = r.repetition_penalty();
  if (r.has_no_repeat_ngram_size()) o->no_repeat_ngram_size = r.no_repeat_ngram_size();
  if (r.has_num_beams()) o->num_beams = r.num_beams();
  if (r.has_length_penalty()) o->length_penalty = r.length_penalty();
  switch (r.early_stopping()) {
    case infer::v1::EARLY_STOPPING_HEURISTIC:
      o->early_stopping = runtime::EarlyStopping::kHeuristic;
      break;
    case infer::v1::EARLY_STOPPING_TRUE: o->early_stopping = runtime::EarlyStopping::kTrue; break;
    case infer::v1::EARLY_STOPPING_NEVER: o->early_stopping = runtime::EarlyStopping::kNever; break;
    case infer::v1::EARLY_STOPPING_UNSPECIFIED: break;
    default: return Invalid("early_stopping", absl::StrCat("unknown value ", r.early_stopping()));
  }
  if (r.has_num_return_sequences()) o->num_return_sequences = r.num_return_sequences();
  if (r.has_penalty_alpha()) o->penalty_alpha = r.penalty_alpha();
  if (r.has_seed()) o->seed = r.seed();
  o->logprobs = r.logprobs() || r.top_logprobs() > 0;
  o->top_logprobs = static_cast<int>(std::min<uint32_t>(r.top_logprobs(), 1u << 20));
  o->raw_logprobs = r.raw_logprobs();

  // Token lists.
  for (const infer::v1::TokenIds& ids : r.bad_words_ids()) {
    o->bad_words_ids.emplace_back(ids.ids().begin(), ids.ids().end());
  }
  for (int i = 0; i < r.bad_words_size(); ++i) {
    const std::string& w = r.bad_words(i);
    if (w.empty()) return absl::InvalidArgumentError(absl::StrCat("bad_words[", i, "]: empty"));
    // A word after a space and at the start of a text tokenize differently in byte-level BPE;
    // ban both spellings.
    std::set<std::vector<int32_t>> forms;
    for (const std::string& form : {" " + w, w}) {
      std::vector<int32_t> ids = model.tokenizer().Encode(form, false).ids;
      if (!ids.empty()) forms.insert(ids);
    }
    for (const auto& f : forms) o->bad_words_ids.push_back(f);
  }
  if (r.eos_token_ids_size() > 0) o->eos_token_ids.assign(r.eos_token_ids().begin(), r.eos_token_ids().end());
  if (r.ignore_eos()) o->eos_token_ids.clear();

  if (r.stop_size() > kMaxStopStrings) {
    return Invalid("stop", absl::StrCat(r.stop_size(), " stop strings exceed the limit of ",
                                        kMaxStopStrings));
  }
  for (int i = 0; i < r.stop_size(); ++i) {
    if (r.stop(i).empty()) return absl::InvalidArgumentError(absl::StrCat("stop[", i, "]: empty"));
    if (r.stop(i).size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "]: longer than ",
                                                     kMaxStopStringBytes, " bytes"));
    }
    o->stop_strings.push_back(r.stop(i));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedGeneration> PrepareGeneration(const infer::v1::GenerateRequest& r,
                                                     const tasks::TaskModel& model,
                                                     const service::ServiceLimits& limits) {
  PreparedGeneration p;
  INFER_ASSIGN_OR_RETURN(p.prompt, PromptIds(r, model));
  runtime::GenerationOptions& o = p.options;
  o = model.generation_defaults();
  INFER_RETURN_IF_ERROR(ApplyRequest(r, model, &o));

  if (r.has_max_new_tokens() && r.max_new_tokens() > limits.max_new_tokens) {
    return Invalid("max_new_tokens",
                   absl::StrCat(r.max_new_tokens(), " exceeds this server's limit of ",
                                limits.max_new_tokens, " (--max-new-tokens)"));
  }
  if (o.num_beams > kMaxBeams) {
    return Invalid("num_beams", absl::StrCat(o.num_beams, " exceeds the limit of ", kMaxBeams));
  }
  if (o.num_return_sequences > kMaxReturnSequences) {
    return Invalid("num_return_sequences", absl::StrCat(o.num_return_sequences,
                                                        " exceeds the limit of ",
                                                        kMaxReturnSequences));
  }
  if (o.top_logprobs > kMaxTopLogprobs) {
    return Invalid("top_logprobs", absl::StrCat(r.top_logprobs(), " exceeds the limit of ",
                                                kMaxTopLogprobs));
  }
  INFER_RETURN_IF_ERROR(runtime::ValidateGenerationOptions(o, model.info().vocab_size));

  // Bound the work even when the request leaves the length to max_length or the model's default.
  if (!r.has_max_new_tokens()) {
    const int resolved = runtime::ResolveMaxNewTokens(o, static_cast<int>(p.prompt.size()));
    if (resolved > limits.max_new_tokens) {
      if (r.has_max_length()) {
        return Invalid("max_length",
                       absl::StrCat(r.max_length(), " allows ", resolved,
                                    " new tokens, over this server's limit of ",
                                    limits.max_new_tokens, " (--max-new-tokens)"));
      }
      o.max_new_tokens = limits.max_new_tokens;
    }
  }
  return p;
}

}  // namespace infer::api
