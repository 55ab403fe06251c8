// The utf8proc answers before the HF-compatibility patches of unicode_tables.cc. Kept apart so
// that gen/unicode_exceptions.cc can compare exactly these with the reference dump.
#pragma once

#include <utf8proc.h>

#include <string>

namespace infer::tokenizer::unicode::base {

inline utf8proc_category_t Category(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// White_Space: Oniguruma's \s, Rust's char::is_whitespace.
inline bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

inline bool IsLetter(char32_t c) {
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

inline bool IsNumber(char32_t c) {
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

inline bool IsPunctuationCategory(char32_t c) {
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The "other" categories BertNormalizer treats as control characters: Cc, Cf, Co (utf8proc
// reports no Cs for scalar values and HF keeps unassigned Cn characters).
inline bool IsOtherCategory(char32_t c) {
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

inline bool IsMn(char32_t c) { return Category(c) == UTF8PROC_CATEGORY_MN; }

inline uint8_t CombiningClass(char32_t c) {
  return static_cast<uint8_t>(
      utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class);
}

inline std::u32string CanonicalDecomposition(char32_t c) {
  utf8proc_int32_t buf[32];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(
      static_cast<utf8proc_int32_t>(c), buf, 32, UTF8PROC_DECOMPOSE, &last_boundclass);
  std::u32string out;
  if (n <= 0 || n > 32) {
    out.push_back(c);
    return out;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<char32_t>(buf[i]));
  return out;
}

// Simple lowercase mapping; the one unconditional multi-character mapping of SpecialCasing.txt
// (U+0130 -> "i" U+0307), which Rust applies, is added on top.
inline std::u32string ToLower(char32_t c) {
  if (c == 0x130) return std::u32string{0x69, 0x307};
  return std::u32string(1, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

// Rust regex \w: Alphabetic, marks, decimal digits, connector punctuation, join controls.
// Alphabetic is approximated by letters, letter numbers and the circled letters; the
// generated exceptions fix the rest.
inline bool IsWordChar(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  if (c >= 0x24B6 && c <= 0x24E9) return true;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

}  // namespace infer::tokenizer::unicode::base
