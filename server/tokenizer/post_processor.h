// Post-processors: add the model's special tokens around the sequences and set type ids.
// The ByteLevel one (offset trimming only) lives in byte_level.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

using NamedId = std::pair<std::string, int32_t>;  // token string and id, as HF stores them

// [CLS] A [SEP] / [CLS] A [SEP] B [SEP], type ids 0 for A's part and 1 for B's.
class BertProcessing : public PostProcessor {
 public:
  BertProcessing(NamedId cls, NamedId sep) : cls_(std::move(cls)), sep_(std::move(sep)) {}
  size_t AddedTokens(bool pair) const override { return pair ? 3 : 2; }
  void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const override;

 private:
  NamedId cls_, sep_;
};

// <s> A </s> / <s> A </s> </s> B </s>, all type ids 0, ByteLevel offset trimming first.
class RobertaProcessing : public PostProcessor {
 public:
  RobertaProcessing(NamedId cls, NamedId sep, bool trim_offsets, bool add_prefix_space)
      : cls_(std::move(cls)),
        sep_(std::move(sep)),
        trim_offsets_(trim_offsets),
        add_prefix_space_(add_prefix_space) {}
  size_t AddedTokens(bool pair) const override { return pair ? 4 : 2; }
  void set_options(bool trim_offsets, bool add_prefix_space) {
    trim_offsets_ = trim_offsets;
    add_prefix_space_ = add_prefix_space;
  }
  void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const override;

 private:
  NamedId cls_, sep_;
  bool trim_offsets_, add_prefix_space_;
};

// HF's TemplateProcessing, e.g. single "[CLS]:0 $A:0 [SEP]:0".
class TemplateProcessing : public PostProcessor {
 public:
  struct Piece {
    bool is_sequence;
    int sequence;         // 0 for $A, 1 for $B
    std::string special;  // key into special_tokens
    int32_t type_id;
  };
  struct SpecialToken {
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;
  };
  TemplateProcessing(std::vector<Piece> single, std::vector<Piece> pair,
                     absl::flat_hash_map<std::string, SpecialToken> special_tokens)
      : single_(std::move(single)), pair_(std::move(pair)), special_(std::move(special_tokens)) {}
  size_t AddedTokens(bool pair) const override;
  void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const override;

 private:
  std::vector<Piece> single_, pair_;
  absl::flat_hash_map<std::string, SpecialToken> special_;
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  size_t AddedTokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->AddedTokens(pair);
    return n;
  }
  void ProcessParts(std::vector<EncodingPart>* parts, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->ProcessParts(parts, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// A part made of special tokens only (offsets (0,0), special mask 1).
EncodingPart SpecialPart(const std::vector<int32_t>& ids, const std::vector<std::string>& tokens,
                         int32_t type_id);

}  // namespace infer::tokenizer
