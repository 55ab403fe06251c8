#include <utf8proc.h>

#include "server/tokenizer/normalizers.h"

namespace infer::tokenizer {

void StripAccentsNormalizer::Normalize(NormalizedString* s) const {
  s->Filter([](char32_t c) {
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
      case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return false;
      default:
        return true;
    }
  });
}

}  // namespace infer::tokenizer
