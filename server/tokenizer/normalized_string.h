// A piece of text being normalized, with an alignment from every normalized byte back to the
// span of the input it came from. This mirrors HF's NormalizedString: offsets of tokens are
// computed on the normalized text and mapped back through these alignments, and HF's quirks
// (which span an inserted or removed character inherits) decide offsets, so the transform rules
// below follow HF's exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infer::tokenizer {

// One output character of a transformation and how it relates to the current text:
//   change == 0  replaces the next current character,
//   change  > 0  is inserted (it inherits the span of the byte before it),
//   change == -n replaces the next character and then removes the n after it.
struct CharChange {
  char32_t c;
  int change;
};

class NormalizedString {
 public:
  using Span = std::pair<uint32_t, uint32_t>;

  NormalizedString() = default;
  // The bytes [begin, end) of the input `text` (valid UTF-8), untouched so far. Alignments are
  // absolute byte offsets into `text`.
  NormalizedString(std::string_view text, size_t begin, size_t end);

  const std::string& get() const { return normalized_; }
  bool empty() const { return normalized_.empty(); }
  size_t size() const { return normalized_.size(); }

  // The input span of normalized bytes [b, e). An empty range maps to itself shifted to this
  // piece's start, as HF does.
  std::pair<size_t, size_t> OriginalSpan(size_t b, size_t e) const;

  // Replaces normalized bytes [b, e) by `dest`. `initial_offset` characters at the start of the
  // range are dropped first.
  void TransformRange(size_t b, size_t e, const std::vector<CharChange>& dest,
                      size_t initial_offset);
  void Transform(const std::vector<CharChange>& dest, size_t initial_offset) {
    TransformRange(0, normalized_.size(), dest, initial_offset);
  }

  template <typename Keep>
  void Filter(Keep keep);
  template <typename F>
  void Map(F f);
  void Prepend(std::string_view s);
  void Lowercase();
  void Nfd();

  // The sub-piece of normalized bytes [b, e) (on character boundaries).
  NormalizedString Slice(size_t b, size_t e) const;

 private:
  std::vector<char32_t> Chars() const;

  std::string normalized_;
  std::vector<Span> align_;  // one per normalized byte
  size_t shift_ = 0;         // input offset where this piece starts
};

template <typename Keep>
void NormalizedString::Filter(Keep keep) {
  // HF encodes removals as "the kept character before them removes n followers"; characters
  // removed before the first kept one are passed as the initial offset.
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  int removed = 0;
  size_t removed_start = 0;
  bool have_last = false;
  char32_t last = 0;
  for (char32_t c : Chars()) {
    if (keep(c)) {
      if (have_last) {
        dest.push_back({last, -removed});
      } else {
        removed_start = static_cast<size_t>(removed);
      }
      last = c;
      have_last = true;
      removed = 0;
    } else {
      ++removed;
    }
  }
  if (have_last) dest.push_back({last, -removed});
  Transform(dest, removed_start);
}

template <typename F>
void NormalizedString::Map(F f) {
  std::vector<CharChange> dest;
  for (char32_t c : Chars()) dest.push_back({f(c), 0});
  Transform(dest, 0);
}

}  // namespace infer::tokenizer
