#include "server/runtime/logits_warpers.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "server/runtime/score_math.h"

namespace infer::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Token indices ordered by score, ascending; equal scores keep index order.
std::vector<int32_t> SortedAscending(std::span<const float> scores) {
  std::vector<int32_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return scores[a] < scores[b]; });
  return idx;
}

}  // namespace

void TemperatureWarper::Apply(std::span<const int32_t>, std::span<float> scores) const {
  for (float& s : scores) s = s / temperature_;
}

TopKWarper::TopKWarper(int top_k, int min_tokens_to_keep) : k_(std::max(top_k, min_tokens_to_keep)) {}

void TopKWarper::Apply(std::span<const int32_t>, std::span<float> scores) const {
  const int k = std::min<int>(k_, static_cast<int>(scores.size()));
  if (k <= 0) return;
  std::vector<float> copy(scores.begin(), scores.end());
  std::nth_element(copy.begin(), copy.begin() + (k - 1), copy.end(), std::greater<float>());
  const float kth = copy[k - 1];
  for (float& s : scores) {
    if (s < kth) s = kNegInf;
  }
}

void TopPWarper::Apply(std::span<const int32_t>, std::span<float> scores) const {
  const size_t n = scores.size();
  if (n == 0) return;
  std::vector<int32_t> order = SortedAscending(scores);
  std::vector<float> sorted(n), probs(n);
  for (size_t i = 0; i < n; ++i) sorted[i] = scores[order[i]];
  Softmax(sorted, probs);
  // torch's CPU cumsum accumulates float in double and stores float; the threshold is compared
  // in float32.
  const float threshold = static_cast<float>(1.0 - top_p_);
  const size_t keep_from = n > static_cast<size_t>(min_keep_) ? n - min_keep_ : 0;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += probs[i];
    const bool remove = static_cast<float>(cumulative) <= threshold && i < keep_from;
    if (remove) scores[order[i]] = kNegInf;
  }
}

void MinPWarper::Apply(std::span<const int32_t>, std::span<float> scores) const {
  const size_t n = scores.size();
  if (n == 0) return;
  std::vector<float> probs(n);
  Softmax(scores, probs);
  const float top = *std::max_element(probs.begin(), probs.end());
  const float threshold = static_cast<float>(min_p_) * top;
  // The min_keep most likely tokens survive whatever their probability.
  std::vector<int32_t> order = SortedAscending(scores);
  std::vector<char> protect(n, 0);
  for (size_t i = 0; i < n && i < static_cast<size_t>(min_keep_); ++i) protect[order[n - 1 - i]] = 1;
  for (size_t i = 0; i < n; ++i) {
    if (probs[i] < threshold && !protect[i]) scores[i] = kNegInf;
  }
}

}  // namespace infer::runtime
