#include "server/tokenizer/normalizers.h"
#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {

void BertNormalizer::Normalize(NormalizedString* s) const {
  // Same steps, same order as HF's BertNormalizer; each step's alignment bookkeeping decides
  // the offsets, so they are not fused.
  if (o_.clean_text) {
    s->Filter([](char32_t c) { return !unicode::BertCleanDrops(c); });
    s->Map([](char32_t c) { return unicode::BertIsWhitespace(c) ? U' ' : c; });
  }
  if (o_.handle_chinese_chars) {
    std::vector<CharChange> dest;
    size_t pos = 0;
    const std::string& text = s->get();
    bool any = false;
    while (pos < text.size()) {
      const char32_t c = DecodeUtf8(text, &pos);
      if (unicode::IsChineseChar(c)) {
        // The leading space replaces the ideograph and both re-inserted characters inherit
        // its span.
        dest.push_back({U' ', 0});
        dest.push_back({c, 1});
        dest.push_back({U' ', 1});
        any = true;
      } else {
        dest.push_back({c, 0});
      }
    }
    if (any) s->Transform(dest, 0);
  }
  if (o_.strip_accents.value_or(o_.lowercase)) {
    s->Nfd();
    s->Filter([](char32_t c) { return !unicode::IsNonspacingMark(c); });
  }
  if (o_.lowercase) s->Lowercase();
}

}  // namespace infer::tokenizer
