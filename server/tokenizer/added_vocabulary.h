// Added tokens (special tokens such as <|endoftext|>, [CLS], <mask>, and user-added words).
// HF matches them in the text *before* the model sees it: tokens with normalized=false in the
// raw text, the others in the normalized text; every match becomes a finished token and the
// text around it is tokenized normally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/tokenizer/absl_compat.h"
#include "server/tokenizer/pipeline.h"

namespace infer::tokenizer {

struct AddedToken {
  std::string content;
  bool single_word = false;  // only match when not inside a word
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = true;    // match in the normalized text (else in the raw text)
  bool special = false;      // skipped by decode(skip_special_tokens)
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // HF's add_tokens for one token: it keeps the model's id when the content is in the
  // vocabulary, else gets the next free id. Returns the id, or nullopt when ignored (empty
  // content or an identical token already added).
  std::optional<int32_t> Add(const AddedToken& token, const Model& model);
  // Rebuilds the matchers (HF's refresh_added_tokens); patterns of normalized tokens are
  // normalized with `normalizer` (may be null). Call after the last Add.
  void Refresh(const Model& model, const Normalizer* normalizer);

  std::optional<int32_t> TokenToId(std::string_view content) const;
  const AddedToken* Find(int32_t id) const;
  bool IsSpecialContent(std::string_view content) const { return special_set_.contains(AsAbsl(content)); }
  int32_t MaxId() const;  // -1 when empty
  bool empty() const { return by_id_.empty(); }

  // HF's extract_and_normalize: splits out raw-text matches, normalizes the rest, then splits
  // out normalized-text matches. `text` must be valid UTF-8 and outlive nothing (copied).
  PreTokenized ExtractAndNormalize(std::string_view text, const Normalizer* normalizer) const;

 private:
  // Leftmost-longest multi-pattern matcher over bytes (a trie walked from each start).
  struct Matcher {
    struct Node {
      absl::flat_hash_map<unsigned char, int32_t> next;
      int32_t pattern = -1;  // index into ids, first inserted wins
    };
    std::vector<Node> nodes{Node{}};
    std::vector<int32_t> ids;
    bool first_byte[256] = {};
    void Insert(std::string_view pattern, int32_t id);
    // The leftmost-longest match starting at or after `from`: (start, end, id).
    bool Next(std::string_view text, size_t from, size_t* start, size_t* end, int32_t* id) const;
  };
  struct Match {
    std::optional<int32_t> id;
    size_t begin, end;
  };

  std::vector<Match> FindMatches(std::string_view sentence, const Matcher& m) const;
  std::vector<Split> SplitWithMatches(NormalizedString s, const Matcher& m) const;

  absl::flat_hash_map<std::string, int32_t> by_content_;
  absl::flat_hash_map<int32_t, AddedToken> by_id_;
  std::vector<AddedToken> special_tokens_;  // HF keeps both lists, in insertion order
  std::vector<AddedToken> added_tokens_;
  absl::flat_hash_set<std::string> special_set_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace infer::tokenizer
