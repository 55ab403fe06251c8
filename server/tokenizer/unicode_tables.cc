#include "server/tokenizer/unicode_tables.h"

#include <algorithm>
#include <optional>

#include "server/tokenizer/unicode_utf8proc.h"

namespace infer::tokenizer::unicode {
namespace {

struct ClassRange {
  char32_t lo, hi;
  Gpt2Class value;
};
struct BoolRange {
  char32_t lo, hi;
  bool value;
};
struct CccRange {
  char32_t lo, hi;
  uint8_t value;
};
struct SeqOverride {
  char32_t cp;
  size_t len;
  char32_t seq[4];
};

#include "server/tokenizer/unicode_exceptions.inc"

// Binary search over sorted, disjoint [lo, hi] ranges.
template <typename Range, size_t N>
auto Lookup(const Range (&table)[N], char32_t c) -> std::optional<decltype(table[0].value)> {
  const Range* end = table + N;
  const Range* it = std::upper_bound(table, end, c, [](char32_t v, const Range& r) { return v < r.lo; });
  if (it == table) return std::nullopt;
  --it;
  if (c >= it->lo && c <= it->hi) return it->value;
  return std::nullopt;
}

template <size_t N>
const SeqOverride* FindSeq(const SeqOverride (&table)[N], char32_t c) {
  const SeqOverride* end = table + N;
  const SeqOverride* it = std::lower_bound(
      table, end, c, [](const SeqOverride& s, char32_t v) { return s.cp < v; });
  return (it != end && it->cp == c) ? it : nullptr;
}

}  // namespace

Gpt2Class Gpt2ClassOf(char32_t c) {
  // ASCII dominates real text: answer it without any lookup.
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return Gpt2Class::kLetter;
    if (c >= '0' && c <= '9') return Gpt2Class::kNumber;
    if (base::IsWhiteSpace(c)) return Gpt2Class::kSpace;
    return Gpt2Class::kOther;
  }
  if (auto v = Lookup(kGpt2ClassOverrides, c)) return *v;
  if (base::IsWhiteSpace(c)) return Gpt2Class::kSpace;
  if (base::IsLetter(c)) return Gpt2Class::kLetter;
  if (base::IsNumber(c)) return Gpt2Class::kNumber;
  return Gpt2Class::kOther;
}

bool IsWhitespace(char32_t c) { return base::IsWhiteSpace(c); }

bool BertCleanDrops(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c == 0 || c == 0xFFFD) return true;
  if (auto v = Lookup(kCleanDropOverrides, c)) return *v;
  return base::IsOtherCategory(c);
}

bool BertIsWhitespace(char32_t c) {
  return c == '\t' || c == '\n' || c == '\r' || base::IsWhiteSpace(c);
}

bool BertIsPunctuation(char32_t c) {
  // Rust's is_ascii_punctuation also counts the ASCII symbols ($ + < = > ^ ` | ~).
  if ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
      (c >= 0x7B && c <= 0x7E))
    return true;
  if (c < 0x80) return false;
  if (auto v = Lookup(kPunctuationOverrides, c)) return *v;
  return base::IsPunctuationCategory(c);
}

bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsNonspacingMark(char32_t c) {
  if (c < 0x300) return false;
  if (auto v = Lookup(kNonspacingMarkOverrides, c)) return *v;
  return base::IsMn(c);
}

std::u32string CanonicalDecomposition(char32_t c) {
  if (c < 0xC0) return std::u32string(1, c);
  if (const SeqOverride* s = FindSeq(kDecompositionOverrides, c))
    return std::u32string(s->seq, s->seq + s->len);
  return base::CanonicalDecomposition(c);
}

uint8_t CombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  if (auto v = Lookup(kCombiningClassOverrides, c)) return *v;
  return base::CombiningClass(c);
}

std::u32string ToLower(char32_t c) {
  if (c < 0x80) return std::u32string(1, (c >= 'A' && c <= 'Z') ? c + 32 : c);
  if (const SeqOverride* s = FindSeq(kLowercaseOverrides, c))
    return std::u32string(s->seq, s->seq + s->len);
  return base::ToLower(c);
}

bool IsWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  if (auto v = Lookup(kWordCharOverrides, c)) return *v;
  return base::IsWordChar(c);
}

}  // namespace infer::tokenizer::unicode
