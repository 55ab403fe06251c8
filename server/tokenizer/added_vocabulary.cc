#include "server/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

// Last / first character of a valid UTF-8 string.
char32_t LastChar(std::string_view s) {
  size_t p = s.size();
  RetreatChars(s, &p, 1);
  return DecodeUtf8(s, &p);
}
char32_t FirstChar(std::string_view s) {
  size_t p = 0;
  return DecodeUtf8(s, &p);
}

// Start of the run of whitespace that ends `s` (HF: regex `\s*$`).
size_t TrailingSpaceStart(std::string_view s) {
  size_t p = s.size();
  while (p > 0) {
    size_t q = p;
    RetreatChars(s, &q, 1);
    size_t r = q;
    if (!unicode::IsWhitespace(DecodeUtf8(s, &r))) break;
    p = q;
  }
  return p;
}

// Length of the run of whitespace that starts `s` (HF: regex `^\s*`).
size_t LeadingSpaceLen(std::string_view s) {
  size_t p = 0;
  while (p < s.size()) {
    size_t q = p;
    if (!unicode::IsWhitespace(DecodeUtf8(s, &q))) break;
    p = q;
  }
  return p;
}

}  // namespace

void AddedVocabulary::Matcher::Insert(std::string_view pattern, int32_t id) {
  // An empty pattern would match everywhere; HF never produces useful ones, so skip it.
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char b : pattern) {
    auto it = nodes[node].next.find(b);
    if (it == nodes[node].next.end()) {
      nodes.push_back(Node{});
      const int32_t child = static_cast<int32_t>(nodes.size()) - 1;
      nodes[node].next.emplace(b, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  if (nodes[node].pattern < 0) {
    nodes[node].pattern = static_cast<int32_t>(ids.size());
    ids.push_back(id);
  }
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
}

bool AddedVocabulary::Matcher::Next(std::string_view text, size_t from, size_t* start,
                                    size_t* end, int32_t* id) const {
  if (ids.empty()) return false;
  for (size_t s = from; s < text.size(); ++s) {
    if (!first_byte[static_cast<unsigned char>(text[s])]) continue;
    int32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t i = s; i < text.size(); ++i) {
      auto it = nodes[node].next.find(static_cast<unsigned char>(text[i]));
      if (it == nodes[node].next.end()) break;
      node = it->second;
      if (nodes[node].pattern >= 0) {
        best = nodes[node].pattern;
        best_end = i + 1;
      }
    }
    if (best >= 0) {
      *start = s;
      *end = best_end;
      *id = ids[static_cast<size_t>(best)];
      return true;
    }
  }
  return false;
}

std::optional<int32_t> AddedVocabulary::Add(const AddedToken& token, const Model& model) {
  if (token.special && !token.content.empty() && !special_set_.contains(token.content)) {
    special_tokens_.push_back(token);
    special_set_.insert(token.content);
  }
  if (token.content.empty()) return std::nullopt;
  for (const auto& [id, t] : by_id_) {
    if (t == token) return std::nullopt;
  }
  std::optional<int32_t> id = TokenToId(token.content);
  if (!id) id = model.TokenToId(token.content);
  if (!id) {
    // HF: the first new token gets the model's vocabulary size, later ones max + 1.
    const auto vocab = static_cast<int32_t>(model.VocabEntries());
    const int32_t max_added = MaxId();
    id = (max_added < 0) ? vocab : (max_added >= vocab || vocab == 0 ? max_added + 1 : vocab);
  }
  by_content_[token.content] = *id;
  by_id_[*id] = token;
  if (!special_set_.contains(token.content)) added_tokens_.push_back(token);
  return id;
}

void AddedVocabulary::Refresh(const Model& model, const Normalizer* normalizer) {
  raw_ = Matcher{};
  normalized_ = Matcher{};
  auto add = [&](const AddedToken& t) {
    std::optional<int32_t> id = TokenToId(t.content);
    if (!id) id = model.TokenToId(t.content);
    if (!id) return;
    if (!t.normalized) {
      raw_.Insert(t.content, *id);
      return;
    }
    NormalizedString pattern(t.content, 0, t.content.size());
    if (normalizer != nullptr) normalizer->Normalize(&pattern);
    normalized_.Insert(pattern.get(), *id);
  };
  // HF builds one automaton per kind from special tokens first, then the others; with
  // leftmost-longest matching the order only matters for identical patterns.
  for (const AddedToken& t : special_tokens_) add(t);
  for (const AddedToken& t : added_tokens_) add(t);
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = by_content_.find(AsAbsl(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::Find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

int32_t AddedVocabulary::MaxId() const {
  int32_t m = -1;
  for (const auto& [id, t] : by_id_) m = std::max(m, id);
  return m;
}

std::vector<AddedVocabulary::Match> AddedVocabulary::FindMatches(std::string_view sentence,
                                                                 const Matcher& m) const {
  if (sentence.empty()) return {Match{std::nullopt, 0, 0}};
  std::vector<Match> out;
  size_t start_offset = 0;
  size_t from = 0;
  size_t start, stop;
  int32_t id;
  while (m.Next(sentence, from, &start, &stop, &id)) {
    from = stop;  // the automaton resumes after the raw match, whatever we do with it
    const AddedToken& tok = by_id_.at(id);
    if (tok.single_word) {
      const bool start_space = start == 0 || !unicode::IsWordChar(LastChar(sentence.substr(0, start)));
      const bool stop_space =
          stop == sentence.size() || !unicode::IsWordChar(FirstChar(sentence.substr(stop)));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {
      // Earlier matches may already own those spaces.
      start = std::max(TrailingSpaceStart(sentence.substr(0, start)), start_offset);
    }
    if (tok.rstrip) stop += LeadingSpaceLen(sentence.substr(stop));
    if (start_offset < start) out.push_back(Match{std::nullopt, start_offset, start});
    out.push_back(Match{id, start, stop});
    start_offset = stop;
  }
  if (start_offset != sentence.size()) out.push_back(Match{std::nullopt, start_offset, sentence.size()});
  return out;
}

std::vector<Split> AddedVocabulary::SplitWithMatches(NormalizedString s, const Matcher& m) const {
  std::vector<Split> out;
  for (const Match& match : FindMatches(s.get(), m)) {
    Split split{s.Slice(match.begin, match.end), std::nullopt};
    if (match.id) {
      const size_t len = split.normalized.size();
      split.tokens = std::vector<Token>{Token{*match.id, split.normalized.get(), 0, len}};
    }
    out.push_back(std::move(split));
  }
  return out;
}

PreTokenized AddedVocabulary::ExtractAndNormalize(std::string_view text,
                                                  const Normalizer* normalizer) const {
  PreTokenized pre;
  pre.push_back(Split{NormalizedString(text, 0, text.size()), std::nullopt});
  SplitEach(&pre, [&](NormalizedString s) { return SplitWithMatches(std::move(s), raw_); });
  SplitEach(&pre, [&](NormalizedString s) {
    if (normalizer != nullptr) normalizer->Normalize(&s);
    return SplitWithMatches(std::move(s), normalized_);
  });
  return pre;
}

}  // namespace infer::tokenizer
