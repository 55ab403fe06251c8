// UTF-8 helpers shared by the tokenizer pieces.
//
// Every text that enters the tokenizer is first "sanitized": invalid UTF-8 is replaced by
// U+FFFD once per *maximal subpart* of an ill-formed sequence (Unicode ch. 3, "U+FFFD
// substitution of maximal subparts"). That is exactly what Python's
// `bytes.decode("utf-8", errors="replace")` and Rust's `String::from_utf8_lossy` do, so byte
// offsets into the sanitized text correspond one to one with Hugging Face's character offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infer::tokenizer {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Number of bytes of the UTF-8 sequence that starts with `lead` (1 for ASCII and for bytes that
// cannot start a sequence).
inline size_t Utf8SeqLen(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

// Decodes the character at `*pos` of a *valid* UTF-8 string and advances `*pos`.
char32_t DecodeUtf8(std::string_view s, size_t* pos);

// Appends the UTF-8 encoding of `c`.
void AppendUtf8(char32_t c, std::string* out);
inline size_t Utf8Len(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

// Length in bytes of the valid sequence at the start of `s`, or 0 when it is not a complete valid
// character. `*maximal_subpart` receives the length of the invalid bytes to replace by a single
// U+FFFD when 0 is returned (at least 1 when s is non-empty).
size_t ValidSeqLen(std::string_view s, size_t* maximal_subpart);

// Replaces invalid UTF-8 with U+FFFD per maximal subpart (see the file comment).
std::string SanitizeUtf8(std::string_view bytes);
bool IsValidUtf8(std::string_view bytes);

// How many bytes at the end of `s` form the beginning of a character that more bytes could
// still complete (0..3). Streaming holds these back.
size_t IncompleteUtf8Tail(std::string_view s);

// Moves `n` characters forward from byte `pos` of valid UTF-8 (stops at s.size()).
size_t AdvanceChars(std::string_view s, size_t pos, size_t n);
// Moves `n` characters back from byte `pos`; returns false (and leaves *pos at 0) when there are
// fewer than n characters before it.
bool RetreatChars(std::string_view s, size_t* pos, size_t n);

}  // namespace infer::tokenizer
