#include "server/tokenizer/pre_tokenizers.h"
#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

// Every character for which `is_delim` holds is a delimiter of its own; it is dropped
// (`remove`) or kept as a separate split. The text between delimiters forms the other splits.
template <typename Pred>
std::vector<Split> SplitOnChars(const NormalizedString& s, Pred is_delim, bool remove) {
  std::vector<Split> out;
  const std::string& text = s.get();
  size_t last = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t at = pos;
    const char32_t c = DecodeUtf8(text, &pos);
    if (!is_delim(c)) continue;
    if (last < at) out.push_back(Split{s.Slice(last, at), std::nullopt});
    if (!remove) out.push_back(Split{s.Slice(at, pos), std::nullopt});
    last = pos;
  }
  if (last < text.size()) out.push_back(Split{s.Slice(last, text.size()), std::nullopt});
  return out;
}

}  // namespace

void BertPreTokenizer::PreTokenize(PreTokenized* pre) const {
  SplitEach(pre, [](NormalizedString s) {
    return SplitOnChars(s, [](char32_t c) { return unicode::IsWhitespace(c); }, true);
  });
  SplitEach(pre, [](NormalizedString s) {
    return SplitOnChars(s, [](char32_t c) { return unicode::BertIsPunctuation(c); }, false);
  });
}

}  // namespace infer::tokenizer
