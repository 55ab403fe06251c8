#include "server/tokenizer/truncation.h"

#include <algorithm>
#include <utility>

namespace infer::tokenizer {
namespace {

void KeepFirst(Encoding* e, size_t n) {
  if (n >= e->size()) return;
  e->num_truncated += e->size() - n;
  e->ids.resize(n);
  e->type_ids.resize(n);
  e->tokens.resize(n);
  e->offsets.resize(n);
  e->special_mask.resize(n);
  e->sequence_ids.resize(n);
}

}  // namespace

void Truncate(Encoding* a, Encoding* b, size_t max_length, TruncationOptions::Strategy strategy) {
  if (max_length == 0) {
    KeepFirst(a, 0);
    if (b != nullptr) KeepFirst(b, 0);
    return;
  }
  const size_t total = a->size() + (b ? b->size() : 0);
  if (total <= max_length) return;
  const size_t to_remove = total - max_length;
  if (strategy != TruncationOptions::Strategy::kLongestFirst) {
    Encoding* target = strategy == TruncationOptions::Strategy::kOnlyFirst ? a : b;
    if (target == nullptr || target->size() <= to_remove) {
      a->truncation_impossible = true;  // HF: "Sequence to truncate too short"
      return;
    }
    KeepFirst(target, target->size() - to_remove);
    return;
  }
  if (b == nullptr) {
    KeepFirst(a, max_length);
    return;
  }
  // n1 is the shorter one: if it fits in half the budget the longer one takes the rest,
  // otherwise both get half (the extra odd token goes to the longer one).
  size_t n1 = a->size();
  size_t n2 = b->size();
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  if (n1 > max_length) {
    n2 = n1;
  } else {
    n2 = std::max(n1, max_length - n1);
  }
  if (n1 + n2 > max_length) {
    n1 = max_length / 2;
    n2 = n1 + max_length % 2;
  }
  if (swap) std::swap(n1, n2);
  KeepFirst(a, n1);
  KeepFirst(b, n2);
}

}  // namespace infer::tokenizer
