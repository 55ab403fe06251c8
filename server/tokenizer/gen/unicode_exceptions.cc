// Generates server/tokenizer/unicode_exceptions.inc: the code points where utf8proc's answer
// (unicode_utf8proc.h) differs from Hugging Face `tokenizers`, as dumped by
// unicode_reference.py. Not part of the build; run by hand when utf8proc or the pinned
// `tokenizers` version changes:
//   python3 unicode_reference.py /tmp/ref.tsv
//   g++ -std=c++20 -I../../.. unicode_exceptions.cc -lutf8proc -o /tmp/gen
//   /tmp/gen /tmp/ref.tsv > ../unicode_exceptions.inc
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "server/tokenizer/unicode_utf8proc.h"

namespace base = infer::tokenizer::unicode::base;

namespace {

struct Row {
  char32_t cp;
  char gpt2, clean, split;
  std::u32string nfd, strip, lower;
  bool reorders;
  bool word;
};

std::u32string ParseHex(const std::string& s) {
  std::u32string out;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) out.push_back(static_cast<char32_t>(std::stoul(tok, nullptr, 16)));
  return out;
}

char BaseGpt2(char32_t c) {
  if (base::IsWhiteSpace(c)) return 'S';
  if (base::IsLetter(c)) return 'L';
  if (base::IsNumber(c)) return 'N';
  return 'O';
}

bool BaseCleanDrops(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return c == 0 || c == 0xFFFD || base::IsOtherCategory(c);
}

bool BasePunct(char32_t c) {
  const bool ascii_punct = (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return ascii_punct || base::IsPunctuationCategory(c);
}

// Emits [lo, hi] runs of consecutive code points that share the same overridden value.
template <typename T>
void EmitRanges(const char* name, const char* type, const std::map<char32_t, T>& m,
                const char* (*fmt)(T)) {
  std::printf("static constexpr %s %s[] = {\n", type, name);
  auto it = m.begin();
  size_t n = 0;
  while (it != m.end()) {
    char32_t lo = it->first, hi = it->first;
    T v = it->second;
    auto next = std::next(it);
    while (next != m.end() && next->first == hi + 1 && next->second == v) {
      hi = next->first;
      ++next;
    }
    std::printf("    {0x%X, 0x%X, %s},\n", static_cast<unsigned>(lo), static_cast<unsigned>(hi),
                fmt(v));
    ++n;
    it = next;
  }
  if (n == 0) std::printf("    {0x110000, 0x110000, %s},  // none\n", fmt(T{}));
  std::printf("};\n\n");
}

const char* FmtBool(bool b) { return b ? "true" : "false"; }
const char* FmtClass(char c) {
  switch (c) {
    case 'L': return "Gpt2Class::kLetter";
    case 'N': return "Gpt2Class::kNumber";
    case 'S': return "Gpt2Class::kSpace";
    default: return "Gpt2Class::kOther";
  }
}
const char* FmtCcc(uint8_t v) {
  static char buf[8];
  std::snprintf(buf, sizeof buf, "%u", v);
  return buf;
}

void EmitSeqs(const char* name, const std::map<char32_t, std::u32string>& m) {
  std::printf("static constexpr SeqOverride %s[] = {\n", name);
  for (const auto& [cp, seq] : m) {
    std::printf("    {0x%X, %zu, {", static_cast<unsigned>(cp), seq.size());
    for (size_t i = 0; i < seq.size(); ++i)
      std::printf("%s0x%X", i ? ", " : "", static_cast<unsigned>(seq[i]));
    std::printf("}},\n");
  }
  if (m.empty()) std::printf("    {0x110000, 0, {0}},  // none\n");
  std::printf("};\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " unicode_ref.tsv\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::string cur;
    for (char ch : line) {
      if (ch == '\t') {
        f.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(ch);
      }
    }
    f.push_back(cur);
    if (f.size() != 9) {
      std::cerr << "bad line: " << line << "\n";
      return 1;
    }
    rows.push_back(Row{static_cast<char32_t>(std::stoul(f[0], nullptr, 16)), f[1][0], f[2][0],
                       f[3][0], ParseHex(f[4]), ParseHex(f[5]), ParseHex(f[6]), f[7] == "1", f[8] == "1"});
  }

  std::map<char32_t, char> gpt2;
  std::map<char32_t, bool> clean, punct, mn, word;
  std::map<char32_t, uint8_t> ccc;
  std::map<char32_t, std::u32string> decomp, lower;
  size_t unexplained = 0;
  for (const Row& r : rows) {
    const char32_t c = r.cp;
    if (BaseGpt2(c) != r.gpt2) gpt2[c] = r.gpt2;
    if (BaseCleanDrops(c) != (r.clean == 'X')) clean[c] = r.clean == 'X';
    const bool bert_ws = c == '\t' || c == '\n' || c == '\r' || base::IsWhiteSpace(c);
    if (r.clean != 'X' && c != ' ' && bert_ws != (r.clean == 'W')) ++unexplained;
    if (r.split != 'W' && BasePunct(c) != (r.split == 'P')) punct[c] = r.split == 'P';
    if ((r.split == 'W') != base::IsWhiteSpace(c)) ++unexplained;
    // The U+0334 probe only tells the class of characters that do not decompose (and not of
    // U+0334 itself).
    const bool self_nfd = r.nfd.size() == 1 && r.nfd[0] == c;
    const uint8_t cc = base::CombiningClass(c);
    if (self_nfd && c != 0x334 && (cc > 1) != r.reorders) ccc[c] = r.reorders ? 230 : 0;
    if (r.lower != base::ToLower(c)) lower[c] = r.lower;
    const bool base_word = c < 0x80 ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                       (c >= '0' && c <= '9') || c == '_')
                                    : base::IsWordChar(c);
    if (base_word != r.word) word[c] = r.word;
  }
  auto class_of = [&](char32_t c) -> uint8_t {
    auto it = ccc.find(c);
    return it != ccc.end() ? it->second : base::CombiningClass(c);
  };
  for (const Row& r : rows) {
    // NFD of one character: its decomposition, stably sorted by combining class after each
    // starter, as the HF iterator does.
    std::u32string d = base::CanonicalDecomposition(r.cp);
    std::stable_sort(d.begin(), d.end(), [&](char32_t a, char32_t b) {
      const uint8_t ca = class_of(a), cb = class_of(b);
      return ca != 0 && cb != 0 && ca < cb;
    });
    if (d != r.nfd) decomp[r.cp] = r.nfd;
    if (r.nfd.size() == 1 && r.nfd[0] == r.cp) {
      const bool ref_mn = r.strip.empty();
      if (ref_mn != base::IsMn(r.cp)) mn[r.cp] = ref_mn;
    }
  }
  std::printf("// Generated by gen/unicode_exceptions.cc from the output of gen/unicode_reference.py\n"
              "// (tokenizers reference vs utf8proc %s). Do not edit by hand.\n\n",
              utf8proc_version());
  EmitRanges<char>("kGpt2ClassOverrides", "ClassRange", gpt2, FmtClass);
  EmitRanges<bool>("kCleanDropOverrides", "BoolRange", clean, FmtBool);
  EmitRanges<bool>("kPunctuationOverrides", "BoolRange", punct, FmtBool);
  EmitRanges<bool>("kNonspacingMarkOverrides", "BoolRange", mn, FmtBool);
  EmitRanges<uint8_t>("kCombiningClassOverrides", "CccRange", ccc, FmtCcc);
  EmitRanges<bool>("kWordCharOverrides", "BoolRange", word, FmtBool);
  EmitSeqs("kDecompositionOverrides", decomp);
  EmitSeqs("kLowercaseOverrides", lower);
  std::cerr << "rows " << rows.size() << " gpt2 " << gpt2.size() << " clean " << clean.size()
            << " punct " << punct.size() << " mn " << mn.size() << " ccc " << ccc.size()
            << " word " << word.size() << " decomp " << decomp.size() << " lower " << lower.size() << " unexplained "
            << unexplained << "\n";
  return unexplained == 0 ? 0 : 1;
}
