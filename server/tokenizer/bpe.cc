#include "server/tokenizer/vocab_table.h"
#include "server/tokenizer/bpe.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/tokenizer/absl_compat.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    std::vector<std::pair<std::string, int64_t>> vocab,
    std::vector<std::pair<std::string, std::string>> merges, BpeOptions options,
    const std::string& source) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->options_ = std::move(options);
  {
    VocabTable table;
    if (absl::Status st = BuildVocabTable(vocab, source, &table); !st.ok()) return st;
    m->vocab_ = std::move(table.to_id);
    m->vocab_r_ = std::move(table.to_token);
    m->max_id_ = table.max_id;
  }
  const size_t prefix_len =
      m->options_.continuing_subword_prefix ? m->options_.continuing_subword_prefix->size() : 0;
  m->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto find = [&](const std::string& s) -> absl::StatusOr<int32_t> {
      auto it = m->vocab_.find(s);
      if (it == m->vocab_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": merge ", rank + 1, " ('", a,
                                                       "' '", b, "') uses '", s,
                                                       "' which is not in the vocabulary"));
      }
      return it->second;
    };
    auto a_id = find(a);
    if (!a_id.ok()) return a_id.status();
    auto b_id = find(b);
    if (!b_id.ok()) return b_id.status();
    if (b.size() < prefix_len) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": merge ", rank + 1, " ('", a, "' '",
                                                     b, "') is shorter than the subword prefix"));
    }
    auto new_id = find(a + b.substr(prefix_len));
    if (!new_id.ok()) return new_id.status();
    // Like HF's HashMap collect, a repeated pair keeps its last rank.
    m->merges_[PairKey(*a_id, *b_id)] = {static_cast<uint32_t>(rank), *new_id};
  }
  if (m->options_.unk_token && !m->vocab_.contains(*m->options_.unk_token)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": unk_token '",
                                                   *m->options_.unk_token,
                                                   "' is not in the vocabulary"));
  }
  return m;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(AsAbsl(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

BpeModel::Word BpeModel::MergeWord(std::string_view w) const {
  Word word;
  word.reserve(w.size());
  std::optional<Symbol> unk;
  std::string s;
  size_t pos = 0;
  while (pos < w.size()) {
    const size_t start = pos;
    pos += Utf8SeqLen(static_cast<unsigned char>(w[pos]));
    const auto byte_len = static_cast<uint32_t>(pos - start);
    s.assign(w.substr(start, byte_len));
    if (start > 0 && options_.continuing_subword_prefix) s = *options_.continuing_subword_prefix + s;
    if (pos >= w.size() && options_.end_of_word_suffix) s += *options_.end_of_word_suffix;

    if (auto it = vocab_.find(s); it != vocab_.end()) {
      if (unk) {
        word.push_back(*unk);
        unk.reset();
      }
      word.push_back({it->second, byte_len});
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int32_t> bytes;
      for (unsigned char b : s) {
        auto it = vocab_.find(absl::StrFormat("<0x%02X>", b));
        if (it == vocab_.end()) break;
        bytes.push_back(it->second);
      }
      if (bytes.size() == s.size()) {
        // HF adds these without flushing a pending unk first.
        for (int32_t id : bytes) word.push_back({id, 1});
        continue;
      }
    }
    if (options_.unk_token) {
      const int32_t unk_id = vocab_.at(*options_.unk_token);
      if (unk && options_.fuse_unk) {
        unk->len += byte_len;
      } else {
        if (unk) word.push_back(*unk);
        unk = Symbol{unk_id, byte_len};
      }
    }
    // Without an unk token the character is dropped (and later offsets shift, as in HF).
  }
  if (unk) word.push_back(*unk);
  MergeAll(&word);
  return word;
}

void BpeModel::MergeAll(Word* word) const {
  // Doubly linked symbols; a min-heap of candidate merges ordered by (rank, position). Entries
  // that went stale (a neighbour was merged meanwhile) are detected and skipped, as in HF.
  struct Node {
    int32_t id;
    uint32_t len;
    int32_t prev, next;
  };
  struct Cand {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<int32_t>(word->size());
  if (n < 2) return;
  std::vector<Node> sym(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = {(*word)[i].id, (*word)[i].len, i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  auto lookup = [&](int32_t a, int32_t b) -> const std::pair<uint32_t, int32_t>* {
    auto it = merges_.find(PairKey(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (auto* m = lookup(sym[i].id, sym[i + 1].id)) queue.push({m->first, i, m->second});
  }
  while (!queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    Node& cur = sym[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const int32_t next_pos = cur.next;
    const Node right = sym[next_pos];
    const auto* m = lookup(cur.id, right.id);
    if (m == nullptr || m->second != top.new_id) continue;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    sym[next_pos].len = 0;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (auto* pm = lookup(sym[cur.prev].id, cur.id)) queue.push({pm->first, cur.prev, pm->second});
    }
    if (cur.next >= 0) {
      if (auto* nm = lookup(cur.id, sym[cur.next].id)) queue.push({nm->first, top.pos, nm->second});
    }
  }
  word->clear();
  for (const Node& s : sym) {
    if (s.len != 0) word->push_back({s.id, s.len});
  }
}

void BpeModel::Tokenize(std::string_view text, std::vector<Token>* out) const {
  if (text.empty()) return;
  if (options_.ignore_merges) {
    if (auto it = vocab_.find(AsAbsl(text)); it != vocab_.end()) {
      out->push_back(Token{it->second, std::string(text), 0, text.size()});
      return;
    }
  }
  Word word;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (auto it = cache_.find(AsAbsl(text)); it != cache_.end()) {
      word = it->second;
      cached = true;
    }
  }
  if (!cached) {
    word = MergeWord(text);
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(text), word);
  }
  // Offsets are cumulative symbol lengths (dropped characters shift them, as in HF).
  size_t pos = 0;
  for (const Symbol& s : word) {
    out->push_back(Token{s.id, vocab_r_.at(s.id), pos, pos + s.len});
    pos += s.len;
  }
}

}  // namespace infer::tokenizer
