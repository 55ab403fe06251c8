#include "server/tokenizer/vocab_table.h"

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"

namespace infer::tokenizer {

absl::Status BuildVocabTable(const std::vector<std::pair<std::string, int64_t>>& vocab,
                             const std::string& source, VocabTable* table) {
  table->to_id.reserve(vocab.size());
  for (const auto& [token, id] : vocab) {
    if (id < 0 || id > INT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": vocabulary id ", id, " of token '", token, "' is out of range"));
    }
    const auto id32 = static_cast<int32_t>(id);
    if (!table->to_token.emplace(id32, token).second) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": vocabulary id ", id,
                                                     " is used by both '", table->to_token[id32],
                                                     "' and '", token, "'"));
    }
    if (!table->to_id.emplace(token, id32).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": token '", token, "' appears twice in the vocabulary"));
    }
    table->max_id = std::max(table->max_id, id32);
  }
  return absl::OkStatus();
}

}  // namespace infer::tokenizer
