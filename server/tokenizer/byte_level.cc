#include "server/tokenizer/byte_level.h"

#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

struct ByteTables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 512> to_byte{};  // indexed by code point; all mapped chars are < 0x144
  ByteTables() {
    to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

char32_t ByteToChar(uint8_t b) { return Tables().to_char[b]; }

int CharToByte(char32_t c) { return c < 512 ? Tables().to_byte[c] : -1; }

void ByteLevelPreTokenizer::PreTokenize(PreTokenized* pre) const {
  SplitEach(pre, [&](NormalizedString s) {
    if (add_prefix_space_ && (s.empty() || s.get()[0] != ' ')) s.Prepend(" ");
    std::vector<Split> out;
    if (!use_regex_) {
      out.push_back(Split{std::move(s), std::nullopt});
      return out;
    }
    for (auto [b, e] : Gpt2Split(s.get())) out.push_back(Split{s.Slice(b, e), std::nullopt});
    return out;
  });
  // Then every byte becomes its printable stand-in; the first byte of a character replaces it,
  // the others are inserted, so all of them keep the character's span.
  for (Split& split : *pre) {
    if (split.tokens) continue;
    const std::string& text = split.normalized.get();
    std::vector<CharChange> dest;
    dest.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t n = Utf8SeqLen(static_cast<unsigned char>(text[pos]));
      for (size_t i = 0; i < n; ++i)
        dest.push_back({ByteToChar(static_cast<uint8_t>(text[pos + i])), i > 0 ? 1 : 0});
      pos += n;
    }
    split.normalized.Transform(dest, 0);
  }
}

std::string ByteLevelDecoder::Piece(std::string_view token, size_t) const {
  // HF maps every character back to its byte; a token with any character outside the table
  // (an added token such as "<|endoftext|>" is fine, one with a space is not) is kept as is.
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const int b = CharToByte(DecodeUtf8(token, &pos));
    if (b < 0) return std::string(token);
    out.push_back(static_cast<char>(b));
  }
  return out;
}

void TrimByteLevelOffsets(Encoding* enc, std::string_view text, bool add_prefix_space) {
  const char32_t kSpaceChar = ByteToChar(' ');
  auto is_space = [&](char32_t c) { return c == kSpaceChar || unicode::IsWhitespace(c); };
  for (size_t i = 0; i < enc->size(); ++i) {
    const std::string& tok = enc->tokens[i];
    std::vector<char32_t> chars;
    size_t pos = 0;
    while (pos < tok.size()) chars.push_back(DecodeUtf8(tok, &pos));
    size_t leading = 0;
    while (leading < chars.size() && is_space(chars[leading])) ++leading;
    size_t trailing = 0;
    while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
    if (leading == 0 && trailing == 0) continue;
    auto& [begin, end] = enc->offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || begin == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      // offsets.0 = min(offsets.0 + leading, offsets.1), counted in characters.
      begin = std::min(AdvanceChars(text, begin, leading), end);
    }
    if (trailing > 0) {
      // HF: if offsets.1 >= trailing { offsets.1 = max(offsets.1 - trailing, offsets.0) }.
      size_t p = end;
      if (RetreatChars(text, &p, trailing)) end = std::max(p, begin);
    }
  }
}

void ByteLevelPostProcessor::ProcessParts(std::vector<EncodingPart>* parts, bool) const {
  if (!trim_offsets_) return;
  for (EncodingPart& p : *parts) TrimByteLevelOffsets(&p.enc, p.text, add_prefix_space_);
}

}  // namespace infer::tokenizer
