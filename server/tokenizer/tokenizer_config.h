// What transformers reads next to the tokenizer files: tokenizer_config.json (class name,
// options, added_tokens_decoder), special_tokens_map.json (wins over the former for special
// tokens, as in transformers) and the old added_tokens.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/tokenizer/added_vocabulary.h"

namespace infer::tokenizer {

struct TokenizerConfig {
  bool has_config = false;  // tokenizer_config.json exists
  bool has_special_tokens_map = false;
  std::string tokenizer_class;  // e.g. "BertTokenizer", "GPT2TokenizerFast"
  std::optional<bool> do_lower_case, tokenize_chinese_chars, add_prefix_space, trim_offsets,
      clean_up_tokenization_spaces, add_bos_token;
  bool strip_accents_set = false;  // present in the config (its value may be null)
  std::optional<bool> strip_accents;
  // "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token".
  std::map<std::string, AddedToken> special_tokens;
  std::set<std::string> special_keys_seen;  // keys present, even as null
  std::vector<AddedToken> additional_special_tokens;
  std::vector<std::pair<int64_t, AddedToken>> added_tokens_decoder;  // sorted by id
  std::vector<std::pair<std::string, int64_t>> added_tokens_json;    // added_tokens.json
};

absl::StatusOr<TokenizerConfig> ReadTokenizerConfig(const std::string& dir);

// True when `tokenizer_class` (with or without "Fast") is `name`.
bool IsTokenizerClass(const TokenizerConfig& c, std::string_view name);

}  // namespace infer::tokenizer
