#include "server/runtime/generation_options.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace infer::runtime {
namespace {

using nlohmann::json;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

bool Finite(double v) { return std::isfinite(v); }

// ---- json readers: absent or null keys leave the target untouched ----

absl::Status ReadInt(const json& j, const char* key, int* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer()) return Invalid(key, "must be an integer");
  *out = it->get<int>();
  return absl::OkStatus();
}

absl::Status ReadOptionalInt(const json& j, const char* key, std::optional<int>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer()) return Invalid(key, "must be an integer");
  *out = it->get<int>();
  return absl::OkStatus();
}

absl::Status ReadFloat(const json& j, const char* key, double* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) return Invalid(key, "must be a number");
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return Invalid(key, "must be true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

// An id or a list of ids (eos_token_id may be either).
absl::Status ReadIdList(const json& j, const char* key, std::vector<int32_t>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  std::vector<int32_t> ids;
  if (it->is_number_integer()) {
    ids.push_back(it->get<int32_t>());
  } else if (it->is_array()) {
    for (const json& v : *it) {
      if (!v.is_number_integer()) return Invalid(key, "must be an integer or a list of integers");
      ids.push_back(v.get<int32_t>());
    }
  } else {
    return Invalid(key, "must be an integer or a list of integers");
  }
  *out = std::move(ids);
  return absl::OkStatus();
}

}  // namespace

const char* DecodingModeName(DecodingMode mode) {
  switch (mode) {
    case DecodingMode::kGreedy: return "greedy";
    case DecodingMode::kSample: return "sample";
    case DecodingMode::kBeamSearch: return "beam_search";
    case DecodingMode::kBeamSample: return "beam_sample";
    case DecodingMode::kContrastive: return "contrastive_search";
  }
  return "unknown";
}

DecodingMode ResolveDecodingMode(const GenerationOptions& o) {
  const bool sample = o.do_sample && o.temperature > 0.0;
  if (o.num_beams > 1) return sample ? DecodingMode::kBeamSample : DecodingMode::kBeamSearch;
  if (sample) return DecodingMode::kSample;
  if (o.top_k > 1 && o.penalty_alpha > 0.0) return DecodingMode::kContrastive;
  return DecodingMode::kGreedy;
}

absl::Status ValidateGenerationOptions(const GenerationOptions& o, int vocab_size) {
  auto in_vocab = [&](int32_t id) { return id >= 0 && (vocab_size <= 0 || id < vocab_size); };
  if (o.max_new_tokens.has_value() && *o.max_new_tokens <= 0)
    return Invalid("max_new_tokens", absl::StrCat("must be > 0, got ", *o.max_new_tokens));
  if (o.max_length.has_value() && *o.max_length <= 0)
    return Invalid("max_length", absl::StrCat("must be > 0, got ", *o.max_length));
  if (o.min_new_tokens < 0)
    return Invalid("min_new_tokens", absl::StrCat("must be >= 0, got ", o.min_new_tokens));
  if (o.min_length < 0) return Invalid("min_length", absl::StrCat("must be >= 0, got ", o.min_length));
  if (!Finite(o.temperature) || o.temperature < 0.0f)
    return Invalid("temperature", absl::StrCat("must be a finite number >= 0, got ", o.temperature));
  if (o.top_k < 0) return Invalid("top_k", absl::StrCat("must be >= 0, got ", o.top_k));
  if (!Finite(o.top_p) || o.top_p <= 0.0f || o.top_p > 1.0f)
    return Invalid("top_p", absl::StrCat("must be in (0, 1], got ", o.top_p));
  if (!Finite(o.min_p) || o.min_p < 0.0f || o.min_p > 1.0f)
    return Invalid("min_p", absl::StrCat("must be in [0, 1], got ", o.min_p));
  if (!Finite(o.repetition_penalty) || o.repetition_penalty <= 0.0f)
    return Invalid("repetition_penalty",
                   absl::StrCat("must be a finite number > 0, got ", o.repetition_penalty));
  if (o.no_repeat_ngram_size < 0)
    return Invalid("no_repeat_ngram_size", absl::StrCat("must be >= 0, got ", o.no_repeat_ngram_size));
  for (size_t i = 0; i < o.bad_words_ids.size(); ++i) {
    if (o.bad_words_ids[i].empty())
      return Invalid("bad_words_ids", absl::StrCat("entry ", i, " is empty"));
    for (int32_t id : o.bad_words_ids[i]) {
      if (!in_vocab(id))
        return Invalid("bad_words_ids", absl::StrCat("entry ", i, " has token id ", id,
                                                     " outside the vocabulary of ", vocab_size));
    }
  }
  if (o.num_beams < 1) return Invalid("num_beams", absl::StrCat("must be >= 1, got ", o.num_beams));
  if (!Finite(o.length_penalty))
    return Invalid("length_penalty", "must be a finite number");
  if (o.num_return_sequences < 1)
    return Invalid("num_return_sequences", absl::StrCat("must be >= 1, got ", o.num_return_sequences));
  if (!Finite(o.penalty_alpha) || o.penalty_alpha < 0.0f || o.penalty_alpha > 1.0f)
    return Invalid("penalty_alpha", absl::StrCat("must be in [0, 1], got ", o.penalty_alpha));
  const DecodingMode mode = ResolveDecodingMode(o);
  if (o.num_return_sequences > 1) {
    if (mode == DecodingMode::kGreedy || mode == DecodingMode::kContrastive)
      return Invalid("num_return_sequences",
                     absl::StrCat("must be 1 for ", DecodingModeName(mode),
                                  " decoding (use do_sample or num_beams), got ",
                                  o.num_return_sequences));
    if (o.num_beams > 1 && o.num_return_sequences > o.num_beams)
      return Invalid("num_return_sequences",
                     absl::StrCat("(", o.num_return_sequences, ") must be <= num_beams (",
                                  o.num_beams, ")"));
  }
  for (int32_t id : o.eos_token_ids) {
    if (!in_vocab(id))
      return Invalid("eos_token_ids", absl::StrCat("token id ", id, " is outside the vocabulary of ",
                                                   vocab_size));
  }
  if (o.pad_token_id.has_value() && *o.pad_token_id < 0)
    return Invalid("pad_token_id", absl::StrCat("must be >= 0, got ", *o.pad_token_id));
  for (size_t i = 0; i < o.stop_strings.size(); ++i) {
    if (o.stop_strings[i].empty())
      return Invalid("stop_strings", absl::StrCat("entry ", i, " is empty"));
  }
  if (o.top_logprobs < 0 || (vocab_size > 0 && o.top_logprobs > vocab_size))
    return Invalid("top_logprobs",
                   absl::StrCat("must be in [0, vocabulary size], got ", o.top_logprobs));
  return absl::OkStatus();
}

int ResolveMaxNewTokens(const GenerationOptions& o, int prompt_len) {
  if (o.max_new_tokens.has_value()) return *o.max_new_tokens;
  const int max_length = o.max_length.value_or(20);
  return std::max(1, max_length - prompt_len);
}

absl::Status MergeGenerationConfigJson(const json& j, GenerationOptions* o) {
  if (!j.is_object()) return absl::InvalidArgumentError("generation config must be a JSON object");
  absl::Status s;
  auto chain = [&](absl::Status st) {
    if (s.ok() && !st.ok()) s = std::move(st);
  };
  chain(ReadOptionalInt(j, "max_new_tokens", &o->max_new_tokens));
  chain(ReadOptionalInt(j, "max_length", &o->max_length));
  chain(ReadInt(j, "min_new_tokens", &o->min_new_tokens));
  chain(ReadInt(j, "min_length", &o->min_length));
  chain(ReadBool(j, "do_sample", &o->do_sample));
  chain(ReadFloat(j, "temperature", &o->temperature));
  chain(ReadInt(j, "top_k", &o->top_k));
  chain(ReadFloat(j, "top_p", &o->top_p));
  chain(ReadFloat(j, "min_p", &o->min_p));
  chain(ReadFloat(j, "repetition_penalty", &o->repetition_penalty));
  chain(ReadInt(j, "no_repeat_ngram_size", &o->no_repeat_ngram_size));
  chain(ReadInt(j, "num_beams", &o->num_beams));
  chain(ReadFloat(j, "length_penalty", &o->length_penalty));
  chain(ReadInt(j, "num_return_sequences", &o->num_return_sequences));
  chain(ReadFloat(j, "penalty_alpha", &o->penalty_alpha));
  chain(ReadIdList(j, "eos_token_id", &o->eos_token_ids));
  chain(ReadBool(j, "raw_logprobs", &o->raw_logprobs));
  if (!s.ok()) return s;

  if (auto it = j.find("early_stopping"); it != j.end() && !it->is_null()) {
    if (it->is_boolean()) {
      o->early_stopping = it->get<bool>() ? EarlyStopping::kTrue : EarlyStopping::kHeuristic;
    } else if (it->is_string() && it->get<std::string>() == "never") {
      o->early_stopping = EarlyStopping::kNever;
    } else {
      return Invalid("early_stopping", "must be true, false or \"never\"");
    }
  }
  if (auto it = j.find("pad_token_id"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Invalid("pad_token_id", "must be an integer");
    o->pad_token_id = it->get<int32_t>();
  }
  if (auto it = j.find("bad_words_ids"); it != j.end() && !it->is_null()) {
    std::vector<std::vector<int32_t>> words;
    if (!it->is_array()) return Invalid("bad_words_ids", "must be a list of lists of integers");
    for (const json& w : *it) {
      if (!w.is_array()) return Invalid("bad_words_ids", "must be a list of lists of integers");
      std::vector<int32_t> ids;
      for (const json& v : w) {
        if (!v.is_number_integer()) return Invalid("bad_words_ids", "must be a list of lists of integers");
        ids.push_back(v.get<int32_t>());
      }
      words.push_back(std::move(ids));
    }
    o->bad_words_ids = std::move(words);
  }
  if (auto it = j.find("stop_strings"); it != j.end() && !it->is_null()) {
    std::vector<std::string> stops;
    if (it->is_string()) {
      stops.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const json& v : *it) {
        if (!v.is_string()) return Invalid("stop_strings", "must be a string or a list of strings");
        stops.push_back(v.get<std::string>());
      }
    } else {
      return Invalid("stop_strings", "must be a string or a list of strings");
    }
    o->stop_strings = std::move(stops);
  }
  return absl::OkStatus();
}

absl::StatusOr<GenerationOptions> LoadGenerationDefaults(const std::string& model_folder) {
  namespace fs = std::filesystem;
  GenerationOptions options;
  fs::path path = fs::path(model_folder) / "generation_config.json";
  if (!fs::exists(path)) path = fs::path(model_folder) / "config.json";
  if (!fs::exists(path)) return options;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " is not valid JSON"));
  absl::Status s = MergeGenerationConfigJson(j, &options);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", s.message()));
  return options;
}

}  // namespace infer::runtime
