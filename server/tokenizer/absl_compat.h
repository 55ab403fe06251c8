// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view),
// so heterogeneous lookups in absl hash containers need this conversion.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace infer::tokenizer {

inline absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace infer::tokenizer
