// WordPiece (BERT): greedy longest-match-first over each pre-token, continuation pieces
// prefixed with "##"; a word with an unmatchable rest, or longer than max_input_chars_per_word
// characters, becomes a single [UNK].
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/tokenizer/pipeline.h"
#include "server/tokenizer/tokenizer_parts.h"

namespace infer::tokenizer {

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPieceModel : public Model {
 public:
  static absl::StatusOr<std::unique_ptr<WordPieceModel>> Create(
      std::vector<std::pair<std::string, int64_t>> vocab, WordPieceOptions options,
      const std::string& source);

  void Tokenize(std::string_view text, std::vector<Token>* out) const override;
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  const std::string* IdToToken(int32_t id) const override;
  size_t VocabEntries() const override { return vocab_.size(); }
  int32_t MaxId() const override { return max_id_; }

 private:
  WordPieceModel() = default;
  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<int32_t, std::string> vocab_r_;
  WordPieceOptions options_;
  int32_t unk_id_ = -1;
  int32_t max_id_ = -1;
};

// HF's WordPiece decoder: pieces after the first lose the "##" prefix or get a leading space;
// with `cleanup` each piece also goes through HF's space clean-up (" ." -> "." and so on).
class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::string Piece(std::string_view token, size_t index) const override;

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace infer::tokenizer
