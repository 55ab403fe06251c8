// The stages of the tokenization pipeline, in HF's order:
//   added tokens split out of the raw text -> normalizer -> added tokens split out of the
//   normalized text -> pre-tokenizer -> model -> (truncation) -> post-processor;
// and for the way back: ids -> tokens -> decoder (-> transformers' clean-up).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/tokenizer/added_vocabulary.h"
#include "server/tokenizer/pipeline.h"
#include "server/tokenizer/tokenizer.h"

namespace infer::tokenizer {

// One input sequence (or a special-token piece) inside the post-processor, with the text its
// offsets point into (ByteLevel offset trimming counts characters of it).
struct EncodingPart {
  Encoding enc;
  std::string_view text;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual size_t AddedTokens(bool pair) const = 0;
  // HF's process_encodings: may rewrite, add or split parts; they are concatenated afterwards.
  virtual void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // The bytes token number `index` of the decoded sequence contributes. Decode is the UTF-8
  // sanitized concatenation of the pieces.
  virtual std::string Piece(std::string_view token, size_t index) const = 0;
  // TokenBytes for streaming: the piece of a token in the middle of a text.
  virtual std::string StreamPiece(std::string_view token) const { return Piece(token, 1); }
};

struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;        // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;   // may be null
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;  // may be null
  std::unique_ptr<Decoder> decoder;              // null: tokens joined by spaces
  AddedVocabulary added;
  SpecialTokenIds special;
  bool clean_up_tokenization_spaces = false;  // transformers' decode-time clean-up
};

}  // namespace infer::tokenizer
