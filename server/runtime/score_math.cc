#include "server/runtime/score_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infer::runtime {

namespace {
float MaxOf(std::span<const float> x) {
  float m = -std::numeric_limits<float>::infinity();
  for (float v : x) m = std::max(m, v);
  return m;
}
}  // namespace

void Softmax(std::span<const float> x, std::span<float> out) {
  const float m = MaxOf(x);
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = std::exp(x[i] - m);
    sum += out[i];
  }
  const float denom = static_cast<float>(sum);
  for (size_t i = 0; i < x.size(); ++i) out[i] = out[i] / denom;
}

void LogSoftmax(std::span<const float> x, std::span<float> out) {
  const float m = MaxOf(x);
  double sum = 0.0;
  for (float v : x) sum += std::exp(static_cast<double>(v - m));
  const float log_sum = static_cast<float>(std::log(sum));
  for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - m) - log_sum;
}

int32_t Argmax(std::span<const float> x) {
  int32_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] > x[best] || (std::isnan(x[i]) && !std::isnan(x[best]))) best = static_cast<int32_t>(i);
  }
  return best;
}

std::vector<ScoredToken> TopN(std::span<const float> x, int n) {
  n = std::clamp(n, 0, static_cast<int>(x.size()));
  std::vector<int32_t> idx(x.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>(i);
  auto better = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), better);
  std::vector<ScoredToken> top(n);
  for (int i = 0; i < n; ++i) top[i] = {idx[i], x[idx[i]]};
  return top;
}

}  // namespace infer::runtime
