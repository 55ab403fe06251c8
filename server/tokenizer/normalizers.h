// Normalizers: BertNormalizer (bert_normalizer.cc) and the small generic ones HF model files
// combine (normalizers.cc).
#pragma once

#include <memory>
#include <vector>

#include "server/tokenizer/pipeline.h"

namespace infer::tokenizer {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop control characters, map whitespace to ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs
  std::optional<bool> strip_accents;  // NFD + drop Mn; unset: follows lowercase
  bool lowercase = true;
};

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& o) : o_(o) {}
  void Normalize(NormalizedString* s) const override;
  const BertNormalizerOptions& options() const { return o_; }

 private:
  BertNormalizerOptions o_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString* s) const override { s->Lowercase(); }
};

class NfdNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString* s) const override { s->Nfd(); }
};

// Drops combining marks (Mn, Mc, Me); usually follows NFD in a Sequence.
class StripAccentsNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString* s) const override;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void Normalize(NormalizedString* s) const override {
    for (const auto& p : parts_) p->Normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace infer::tokenizer
