// BPE model: a word starts as one symbol per character and adjacent pairs are merged by rank,
// lowest rank first (ties: leftmost), exactly in HF's order, so results and offsets match.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/tokenizer/pipeline.h"

namespace infer::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;  // unknown characters as <0xXX> byte tokens
  bool ignore_merges = false;  // a word that is in the vocabulary is taken whole
};

class BpeModel : public Model {
 public:
  // `source` names the file in error messages. Rejects duplicate or negative ids, merges with
  // malformed entries or symbols (or results) missing from the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      std::vector<std::pair<std::string, int64_t>> vocab,
      std::vector<std::pair<std::string, std::string>> merges, BpeOptions options,
      const std::string& source);

  void Tokenize(std::string_view text, std::vector<Token>* out) const override;
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  const std::string* IdToToken(int32_t id) const override;
  size_t VocabEntries() const override { return vocab_.size(); }
  int32_t MaxId() const override { return max_id_; }

 private:
  struct Symbol {
    int32_t id;
    uint32_t len;  // bytes of the word
  };
  using Word = std::vector<Symbol>;

  BpeModel() = default;
  Word MergeWord(std::string_view text) const;
  void MergeAll(Word* word) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<int32_t, std::string> vocab_r_;
  // (left id, right id) -> (rank, merged id)
  absl::flat_hash_map<uint64_t, std::pair<uint32_t, int32_t>> merges_;
  BpeOptions options_;
  int32_t max_id_ = -1;

  // HF caches up to 10000 words and then stops inserting.
  static constexpr size_t kCacheCapacity = 10000;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, Word> cache_;
};

}  // namespace infer::tokenizer
