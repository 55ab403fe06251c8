// Pre-tokenizers other than ByteLevel (byte_level.h).
#pragma once

#include <memory>
#include <vector>

#include "server/tokenizer/pipeline.h"

namespace infer::tokenizer {

// BERT: split on whitespace (dropped), then isolate every punctuation character.
class BertPreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(PreTokenized* pre) const override;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(PreTokenized* pre) const override {
    for (const auto& p : parts_) p->PreTokenize(pre);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace infer::tokenizer
