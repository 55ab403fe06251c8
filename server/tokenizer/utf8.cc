#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

bool IsCont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Valid range of the second byte after `lead` (Unicode Table 3-7): the narrower ranges exclude
// overlong forms, surrogates and values above U+10FFFF.
void SecondByteRange(unsigned char lead, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0) *lo = 0xA0;
  if (lead == 0xED) *hi = 0x9F;
  if (lead == 0xF0) *lo = 0x90;
  if (lead == 0xF4) *hi = 0x8F;
}

}  // namespace

char32_t DecodeUtf8(std::string_view s, size_t* pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + *pos;
  const size_t n = Utf8SeqLen(p[0]);
  char32_t c;
  switch (n) {
    case 1: c = p[0]; break;
    case 2: c = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F); break;
    case 3: c = ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F); break;
    default:
      c = ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  }
  *pos += n;
  return c;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t ValidSeqLen(std::string_view s, size_t* maximal_subpart) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t avail = s.size();
  *maximal_subpart = 1;
  if (avail == 0) return 0;
  const unsigned char lead = p[0];
  if (lead < 0x80) return 1;
  const size_t need = Utf8SeqLen(lead);
  if (need == 1) return 0;  // continuation byte or C0, C1, F5..FF: never valid as a lead
  unsigned char lo, hi;
  SecondByteRange(lead, &lo, &hi);
  size_t i = 1;
  // The maximal subpart is the longest prefix that could still start a valid sequence.
  for (; i < need; ++i) {
    if (i >= avail) break;
    const unsigned char b = p[i];
    const bool ok = (i == 1) ? (b >= lo && b <= hi) : IsCont(b);
    if (!ok) break;
  }
  if (i == need) return need;
  *maximal_subpart = i;
  return 0;
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t bad;
    const size_t n = ValidSeqLen(bytes.substr(pos), &bad);
    if (n > 0) {
      out.append(bytes.data() + pos, n);
      pos += n;
    } else {
      AppendUtf8(kReplacementChar, &out);
      pos += bad;
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t bad;
    const size_t n = ValidSeqLen(bytes.substr(pos), &bad);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

size_t IncompleteUtf8Tail(std::string_view s) {
  // A held-back tail is a lead byte followed by fewer continuation bytes than it needs, all of
  // them acceptable: only then can later bytes still turn it into a valid character.
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const size_t start = s.size() - k;
    const auto lead = static_cast<unsigned char>(s[start]);
    const size_t need = Utf8SeqLen(lead);
    if (need <= k) continue;
    if (lead >= 0x80 && need == 1) continue;
    size_t bad;
    if (ValidSeqLen(s.substr(start), &bad) == 0 && bad == k) return k;
  }
  return 0;
}

size_t AdvanceChars(std::string_view s, size_t pos, size_t n) {
  while (n > 0 && pos < s.size()) {
    pos += Utf8SeqLen(static_cast<unsigned char>(s[pos]));
    --n;
  }
  return pos < s.size() ? pos : s.size();
}

bool RetreatChars(std::string_view s, size_t* pos, size_t n) {
  size_t p = *pos;
  while (n > 0) {
    if (p == 0) {
      *pos = 0;
      return false;
    }
    --p;
    while (p > 0 && IsCont(static_cast<unsigned char>(s[p]))) --p;
    --n;
  }
  *pos = p;
  return true;
}

}  // namespace infer::tokenizer
