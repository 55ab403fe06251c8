// The GPT-2 pre-tokenisation regex, evaluated by hand with the same leftmost-first semantics as
// Oniguruma (which HF uses):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Every character is a letter, a number, whitespace or "other", so the matches tile the text.
#include <vector>

#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

using unicode::Gpt2Class;

struct Char {
  size_t pos;  // byte offset
  Gpt2Class cls;
  char32_t c;
};

}  // namespace

std::vector<std::pair<size_t, size_t>> Gpt2Split(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t at = pos;
    const char32_t c = DecodeUtf8(text, &pos);
    chars.push_back({at, unicode::Gpt2ClassOf(c), c});
  }
  const size_t n = chars.size();
  auto byte_at = [&](size_t i) { return i < n ? chars[i].pos : text.size(); };
  // End (char index) of the run of class `cls` starting at char i.
  auto run_end = [&](size_t i, Gpt2Class cls) {
    while (i < n && chars[i].cls == cls) ++i;
    return i;
  };

  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    const char32_t c = chars[i].c;
    // 's 't 're 've 'm 'll 'd (ASCII apostrophe, lowercase only).
    if (c == '\'' && i + 1 < n) {
      const char32_t c1 = chars[i + 1].c;
      const char32_t c2 = i + 2 < n ? chars[i + 2].c : 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        end = i + 2;
      } else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
        end = i + 3;
      }
    }
    if (end == i) {
      // " ?X+" for X in letters, numbers, other: an optional single U+0020 then a run.
      const bool space_first = c == ' ' && i + 1 < n;
      const Gpt2Class cls = chars[i].cls;
      for (Gpt2Class x : {Gpt2Class::kLetter, Gpt2Class::kNumber, Gpt2Class::kOther}) {
        if (space_first && chars[i + 1].cls == x) {
          end = run_end(i + 1, x);
          break;
        }
        if (cls == x) {
          end = run_end(i, x);
          break;
        }
      }
    }
    if (end == i) {
      // Whitespace: "\s+(?!\S)" keeps the last space for the next word unless the run ends the
      // text; a single space before a word falls through to "\s+".
      const size_t j = run_end(i, Gpt2Class::kSpace);
      if (j == n || j - 1 == i) {
        end = j;
      } else {
        end = j - 1;
      }
    }
    out.emplace_back(byte_at(i), byte_at(end));
    i = end;
  }
  return out;
}

}  // namespace infer::tokenizer
