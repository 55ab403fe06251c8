// The token <-> id tables every subword model keeps, built with the checks both BPE and
// WordPiece need (ids in range, no id or token twice), so a bad file gets one clear message.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace infer::tokenizer {

struct VocabTable {
  absl::flat_hash_map<std::string, int32_t> to_id;
  absl::flat_hash_map<int32_t, std::string> to_token;
  int32_t max_id = -1;
};

// INVALID_ARGUMENT naming `source` for an out-of-range id, an id used twice or a repeated token.
absl::Status BuildVocabTable(const std::vector<std::pair<std::string, int64_t>>& vocab,
                             const std::string& source, VocabTable* table);

}  // namespace infer::tokenizer
