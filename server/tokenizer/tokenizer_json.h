// Reader for HF `tokenizer.json` (serialization version 1.0). Supports the components the
// GPT-2 / RoBERTa / BERT families use; anything else is rejected with a message naming it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

struct ParsedTokenizerJson {
  std::unique_ptr<TokenizerParts> parts;  // without added tokens and special ids yet
  std::vector<std::pair<int64_t, AddedToken>> added_tokens;  // declared id, token, file order
  // (token, id) pairs the post-processor emits; checked against the vocabulary once the added
  // tokens are in.
  std::vector<std::pair<std::string, int64_t>> post_processor_tokens;
};

absl::StatusOr<ParsedTokenizerJson> ParseTokenizerJson(const nlohmann::json& j,
                                                      const std::string& file);

}  // namespace infer::tokenizer
