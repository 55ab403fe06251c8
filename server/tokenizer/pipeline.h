// Data passed between the pipeline stages and the interfaces of the stages that run before the
// model. See tokenizer_parts.h for the whole pipeline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/tokenizer/normalized_string.h"

namespace infer::tokenizer {

// A token produced by the model inside one split; [begin, end) are bytes of the split's
// normalized text.
struct Token {
  int32_t id;
  std::string value;
  size_t begin, end;
};

// A piece of the input on its way through the pipeline. Once `tokens` is set (added tokens,
// then the model) later stages leave the split alone.
struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};
using PreTokenized = std::vector<Split>;

// Replaces every split that has no tokens yet by fn(split), dropping empty results (HF's
// PreTokenizedString::split).
template <typename F>
void SplitEach(PreTokenized* pre, F fn) {
  PreTokenized out;
  out.reserve(pre->size());
  for (Split& s : *pre) {
    if (s.tokens) {
      out.push_back(std::move(s));
      continue;
    }
    for (Split& piece : fn(std::move(s.normalized))) {
      if (!piece.normalized.empty()) out.push_back(std::move(piece));
    }
  }
  *pre = std::move(out);
}

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Normalize(NormalizedString* s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void PreTokenize(PreTokenized* pre) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Tokenizes one pre-token (never empty).
  virtual void Tokenize(std::string_view text, std::vector<Token>* out) const = 0;
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;
  virtual const std::string* IdToToken(int32_t id) const = 0;
  virtual size_t VocabEntries() const = 0;  // HF's get_vocab_size()
  virtual int32_t MaxId() const = 0;        // -1 when empty
};

}  // namespace infer::tokenizer
