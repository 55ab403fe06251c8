#include "server/tokenizer/normalized_string.h"

#include <algorithm>

#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {

NormalizedString::NormalizedString(std::string_view text, size_t begin, size_t end)
    : normalized_(text.substr(begin, end - begin)), shift_(begin) {
  align_.reserve(normalized_.size());
  size_t pos = begin;
  while (pos < end) {
    const size_t n = Utf8SeqLen(static_cast<unsigned char>(text[pos]));
    for (size_t i = 0; i < n; ++i)
      align_.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + n));
    pos += n;
  }
}

std::vector<char32_t> NormalizedString::Chars() const {
  std::vector<char32_t> out;
  out.reserve(normalized_.size());
  size_t pos = 0;
  while (pos < normalized_.size()) out.push_back(DecodeUtf8(normalized_, &pos));
  return out;
}

std::pair<size_t, size_t> NormalizedString::OriginalSpan(size_t b, size_t e) const {
  if (b >= e || e > align_.size()) return {shift_ + b, shift_ + b};
  return {align_[b].first, align_[e - 1].second};
}

void NormalizedString::TransformRange(size_t b, size_t e, const std::vector<CharChange>& dest,
                                      size_t initial_offset) {
  // `offset` walks the *old* text: a replacing character takes the span of the old character it
  // consumes, an inserted one the span of the old byte just before the walk position.
  size_t read = b;  // next old character to consume
  for (size_t i = 0; i < initial_offset && read < e; ++i)
    read += Utf8SeqLen(static_cast<unsigned char>(normalized_[read]));
  size_t offset = read;
  const Span empty_span{static_cast<uint32_t>(shift_), static_cast<uint32_t>(shift_)};

  std::string out;
  std::vector<Span> out_align;
  out.reserve(e - b);
  out_align.reserve(e - b);
  for (const CharChange& ch : dest) {
    Span span;
    if (ch.change > 0) {
      span = offset >= 1 && offset - 1 < align_.size() ? align_[offset - 1] : empty_span;
    } else {
      span = offset < align_.size() ? align_[offset] : empty_span;
    }
    size_t consumed = 0;
    if (ch.change <= 0 && read < e) {
      const size_t n = Utf8SeqLen(static_cast<unsigned char>(normalized_[read]));
      read += n;
      consumed += n;
    }
    for (int k = 0; ch.change < 0 && k < -ch.change && read < e; ++k) {
      const size_t n = Utf8SeqLen(static_cast<unsigned char>(normalized_[read]));
      read += n;
      consumed += n;
    }
    offset += consumed;
    const size_t before = out.size();
    AppendUtf8(ch.c, &out);
    out_align.insert(out_align.end(), out.size() - before, span);
  }
  normalized_.replace(b, e - b, out);
  align_.erase(align_.begin() + static_cast<std::ptrdiff_t>(b),
               align_.begin() + static_cast<std::ptrdiff_t>(e));
  align_.insert(align_.begin() + static_cast<std::ptrdiff_t>(b), out_align.begin(),
                out_align.end());
}

void NormalizedString::Prepend(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  // HF replaces the first character by the prefix and re-inserts it, so the prefix takes the
  // first character's span.
  size_t pos = 0;
  const char32_t first = DecodeUtf8(normalized_, &pos);
  std::vector<CharChange> dest;
  size_t p = 0;
  bool first_of_prefix = true;
  while (p < s.size()) {
    dest.push_back({DecodeUtf8(s, &p), first_of_prefix ? 0 : 1});
    first_of_prefix = false;
  }
  dest.push_back({first, 1});
  TransformRange(0, pos, dest, 0);
}

void NormalizedString::Lowercase() {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  for (char32_t c : Chars()) {
    const std::u32string low = unicode::ToLower(c);
    for (size_t i = 0; i < low.size(); ++i) dest.push_back({low[i], i > 0 ? 1 : 0});
  }
  Transform(dest, 0);
}

void NormalizedString::Nfd() {
  // Canonical decomposition with canonical reordering done the way HF's iterator does it: the
  // decomposed characters are buffered, and each starter (class 0) first sorts the pending run
  // of combining marks stably by class. The "change" flag travels with its character.
  struct Pending {
    uint8_t ccc;
    char32_t c;
    int change;
  };
  std::vector<CharChange> dest;
  std::vector<Pending> buffer;
  size_t ready = 0;  // buffer[0, ready) is sorted and final
  auto sort_pending = [&]() {
    std::stable_sort(buffer.begin() + static_cast<std::ptrdiff_t>(ready), buffer.end(),
                     [](const Pending& a, const Pending& b) { return a.ccc < b.ccc; });
    ready = buffer.size();
  };
  for (char32_t c : Chars()) {
    const std::u32string d = unicode::CanonicalDecomposition(c);
    for (size_t i = 0; i < d.size(); ++i) {
      const uint8_t ccc = unicode::CombiningClass(d[i]);
      if (ccc == 0) sort_pending();
      buffer.push_back({ccc, d[i], i == 0 ? 0 : 1});
    }
    // Everything before the last starter is final; flush it to keep the buffer short.
    if (ready > 0) {
      for (size_t i = 0; i < ready; ++i) dest.push_back({buffer[i].c, buffer[i].change});
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(ready));
      ready = 0;
    }
  }
  sort_pending();
  for (const Pending& p : buffer) dest.push_back({p.c, p.change});
  Transform(dest, 0);
}

NormalizedString NormalizedString::Slice(size_t b, size_t e) const {
  NormalizedString out;
  out.normalized_ = normalized_.substr(b, e - b);
  out.align_.assign(align_.begin() + static_cast<std::ptrdiff_t>(b),
                    align_.begin() + static_cast<std::ptrdiff_t>(e));
  out.shift_ = b < e ? align_[b].first : shift_ + b;
  return out;
}

}  // namespace infer::tokenizer
