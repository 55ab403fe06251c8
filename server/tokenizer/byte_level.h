// Byte-level BPE plumbing (GPT-2, RoBERTa): every byte of the text is shown to the model as one
// printable character, so the vocabulary never misses a byte; the decoder maps back.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/tokenizer/pipeline.h"
#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the others to
// U+0100 upwards in byte order (so ' ' becomes U+0120 'Ġ').
char32_t ByteToChar(uint8_t b);
// Inverse; -1 for characters that are not in the table.
int CharToByte(char32_t c);

// The GPT-2 pre-tokenisation regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// evaluated by hand; returns the matched byte ranges, which tile `text`.
std::vector<std::pair<size_t, size_t>> Gpt2Split(std::string_view text);

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void PreTokenize(PreTokenized* pre) const override;
  bool add_prefix_space() const { return add_prefix_space_; }
  void set_add_prefix_space(bool v) { add_prefix_space_ = v; }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

class ByteLevelDecoder : public Decoder {
 public:
  std::string Piece(std::string_view token, size_t index) const override;
};

// HF's ByteLevel process_offsets (trim_offsets): drops leading/trailing spaces ('Ġ' or
// whitespace characters of the token string) from each token's offsets, keeping the one space
// add_prefix_space added to the first token. HF counts in characters; `text` is the text the
// offsets point into.
void TrimByteLevelOffsets(Encoding* enc, std::string_view text, bool add_prefix_space);

// The ByteLevel post-processor: offset trimming only.
class ByteLevelPostProcessor : public PostProcessor {
 public:
  explicit ByteLevelPostProcessor(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  size_t AddedTokens(bool) const override { return 0; }
  void set_options(bool trim_offsets, bool add_prefix_space) {
    trim_offsets_ = trim_offsets;
    add_prefix_space_ = add_prefix_space;
  }
  void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const override;

 private:
  bool trim_offsets_;
  bool add_prefix_space_;
};

}  // namespace infer::tokenizer
