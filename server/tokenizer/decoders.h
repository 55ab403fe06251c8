// Decoding helpers shared by Tokenizer::Decode and StreamDecoder.
#pragma once

#include <string>
#include <string_view>

#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

// The string of an id: added tokens first, then the model vocabulary; null when unknown.
const std::string* LookupToken(const TokenizerParts& p, int32_t id);

// The bytes token number `index` contributes (the tokenizer's decoder, or HF's fallback of
// joining tokens with spaces when there is none).
std::string DecoderPiece(const TokenizerParts& p, std::string_view token, size_t index);

// transformers' clean_up_tokenization (" ." -> "." and friends), applied by decode() when
// clean_up_tokenization_spaces is set.
std::string CleanUpTokenizationSpaces(std::string_view text);
// Every clean-up pattern starts with a space and is at most this long: text whose last
// (kCleanUpMaxPattern - 1) bytes hold no space cleans up independently of what follows.
inline constexpr size_t kCleanUpMaxPattern = 4;

}  // namespace infer::tokenizer
