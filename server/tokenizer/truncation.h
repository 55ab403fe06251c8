// HF's truncate_encodings: stride 0, direction right.
#pragma once

#include <cstddef>

#include "server/tokenizer/tokenizer.h"

namespace infer::tokenizer {

// Shortens `a` (and `b` when given) so that together they hold at most `max_length` tokens.
// max_length == 0 empties both (HF does the same when the whole budget goes to special
// tokens). Dropped tokens are counted in num_truncated.
void Truncate(Encoding* a, Encoding* b, size_t max_length, TruncationOptions::Strategy strategy);

}  // namespace infer::tokenizer
