// cpu::SampleTokens: the reference of Backend::SampleTokens (kernels/backend.h, SampleRow).
//
// One row, in transformers' order, with the float32 arithmetic of server/runtime's processors and
// warpers (logits_processors.cc, logits_warpers.cc, score_math.cc: they reproduce transformers
// 4.46 on the CPU), re-stated here because kernels/ sits below server/:
//   1. repetition penalty over the row's distinct history ids: s < 0 ? s * penalty : s / penalty;
//   2. sampling only: s / temperature; top-k (keep s >= the k-th largest, k = max(top_k, 1));
//      top-p (stable ascending sort, softmax, double cumulative rounded to float, remove
//      cumulative <= float(1 - top_p) except the last token); min-p (remove p < min_p * p_max
//      except the most likely token). Removed tokens become -inf.
//   3. greedy: the first index of the largest score (NaN wins, as torch.argmax);
//      sampling: the Philox draw of kernels/philox.h: integer weights trunc(exp(s - max) * 2^shift)
//      in vocabulary order, the first index whose cumulative weight exceeds
//      floor(u * total) (an all -inf/NaN row, total 0, falls back to the argmax).
//   4. logprob = log_softmax(s)[token] (exp in double, as score_math's LogSoftmax); the top
//      num_logprobs entries of the same log_softmax, best first, lower index first on ties;
//      entries past the vocabulary (num_logprobs > vocab) are token -1, logprob -inf.
// Rows run in parallel (OpenMP); each row's result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/philox.h"

namespace infer::kernels::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float MaxOf(const std::vector<float>& x) {
  float m = kNegInf;
  for (float v : x) m = std::max(m, v);
  return m;
}

// score_math's Softmax: float exp, double sum, float denominator.
void Softmax(const std::vector<float>& x, std::vector<float>& out) {
  const float m = MaxOf(x);
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = std::exp(x[i] - m);
    sum += out[i];
  }
  const float denom = static_cast<float>(sum);
  for (size_t i = 0; i < x.size(); ++i) out[i] = out[i] / denom;
}

// score_math's LogSoftmax: exp and sum in double, float log-sum.
void LogSoftmax(const std::vector<float>& x, std::vector<float>& out) {
  const float m = MaxOf(x);
  double sum = 0.0;
  for (float v : x) sum += std::exp(static_cast<double>(v - m));
  const float log_sum = static_cast<float>(std::log(sum));
  for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - m) - log_sum;
}

// torch.argmax: first index of the largest value; a NaN beats every number.
int32_t Argmax(const std::vector<float>& x) {
  int32_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] > x[best] || (std::isnan(x[i]) && !std::isnan(x[best])))
      best = static_cast<int32_t>(i);
  }
  return best;
}

std::vector<int32_t> SortedAscending(const std::vector<float>& s) {
  std::vector<int32_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return s[a] < s[b]; });
  return idx;
}

void RepetitionPenalty(const int32_t* history, int64_t len, float penalty, std::vector<float>& s) {
  std::vector<int32_t> ids(history, history + len);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= s.size()) continue;
    float& v = s[id];
    v = v < 0.0f ? v * penalty : v / penalty;
  }
}

void TopK(int top_k, std::vector<float>& s) {
  const int k = std::min<int>(std::max(top_k, 1), static_cast<int>(s.size()));
  std::vector<float> copy(s);
  std::nth_element(copy.begin(), copy.begin() + (k - 1), copy.end(), std::greater<float>());
  const float kth = copy[k - 1];
  for (float& v : s) {
    if (v < kth) v = kNegInf;
  }
}

void TopP(double top_p, std::vector<float>& s) {
  const size_t n = s.size();
  const std::vector<int32_t> order = SortedAscending(s);
  std::vector<float> sorted(n), probs(n);
  for (size_t i = 0; i < n; ++i) sorted[i] = s[order[i]];
  Softmax(sorted, probs);
  const float threshold = static_cast<float>(1.0 - top_p);
  const size_t keep_from = n - 1;  // min_tokens_to_keep = 1
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += probs[i];
    if (static_cast<float>(cumulative) <= threshold && i < keep_from) s[order[i]] = kNegInf;
  }
}

void MinP(double min_p, std::vector<float>& s) {
  const size_t n = s.size();
  std::vector<float> probs(n);
  Softmax(s, probs);
  const float top = *std::max_element(probs.begin(), probs.end());
  const float threshold = static_cast<float>(min_p) * top;
  // The most likely token (the last of the stable ascending order) survives whatever min_p is.
  const int32_t protect = SortedAscending(s)[n - 1];
  for (size_t i = 0; i < n; ++i) {
    if (probs[i] < threshold && static_cast<int32_t>(i) != protect) s[i] = kNegInf;
  }
}

// The draw of kernels/philox.h: first index whose cumulative fixed-point weight exceeds
// floor(u53 * total / 2^53); -1 when every weight is 0.
int32_t Draw(const std::vector<float>& s, uint64_t seed, uint64_t step) {
  const float m = MaxOf(s);
  const int shift = philox::DrawWeightShift(static_cast<int64_t>(s.size()));
  std::vector<uint64_t> w(s.size());
  uint64_t total = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    w[i] = philox::ExpToFixed(std::exp(s[i] - m), shift);
    total += w[i];
  }
  if (total == 0) return -1;
  const uint64_t t = philox::SampleDrawThreshold(philox::Uniform53(seed, step), total);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    cumulative += w[i];
    if (cumulative > t) return static_cast<int32_t>(i);
  }
  return -1;  // unreachable: t < total
}

void SampleRowOn(const SampleParams& p, int r) {
  const SampleRow& row = p.rows_host[r];
  const size_t vocab = static_cast<size_t>(p.vocab);
  const float* logits = p.logits + static_cast<int64_t>(r) * p.vocab;
  std::vector<float> s(logits, logits + vocab);

  if (row.repetition_penalty != 1.0f && row.history_end > row.history_begin)
    RepetitionPenalty(p.history_host + row.history_begin, row.history_end - row.history_begin,
                      row.repetition_penalty, s);

  int32_t token;
  if (row.greedy) {
    token = Argmax(s);
  } else {
    if (row.temperature != 1.0f) {
      for (float& v : s) v = v / row.temperature;
    }
    if (row.top_k != 0 && std::max(row.top_k, 1) < p.vocab) TopK(row.top_k, s);
    if (row.top_p < 1.0f) TopP(static_cast<double>(row.top_p), s);
    if (row.min_p > 0.0f) MinP(static_cast<double>(row.min_p), s);
    token = Draw(s, row.seed, row.step);
    if (token < 0) token = Argmax(s);
  }
  p.tokens_host[r] = token;

  const bool want_top = p.num_logprobs > 0 && (p.top_tokens_host || p.top_logprobs_host);
  if (!p.logprobs_host && !want_top) return;
  std::vector<float> logp(vocab);
  LogSoftmax(s, logp);
  if (p.logprobs_host) p.logprobs_host[r] = logp[token];
  if (!want_top) return;
  const int n = p.num_logprobs;
  const int have = std::min<int>(n, p.vocab);
  std::vector<int32_t> idx(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + have, idx.end(), [&](int32_t a, int32_t b) {
    return logp[a] > logp[b] || (logp[a] == logp[b] && a < b);
  });
  for (int j = 0; j < n; ++j) {
    const int64_t o = static_cast<int64_t>(r) * n + j;
    if (p.top_tokens_host) p.top_tokens_host[o] = j < have ? idx[j] : -1;
    if (p.top_logprobs_host) p.top_logprobs_host[o] = j < have ? logp[idx[j]] : kNegInf;
  }
}

}  // namespace

void SampleTokens(const SampleParams& p) {
  if (p.rows <= 0) return;
  if (p.vocab <= 0) throw std::invalid_argument("SampleTokens: vocab must be positive");
  if (!p.logits || !p.rows_host || !p.tokens_host)
    throw std::invalid_argument("SampleTokens: logits, rows_host and tokens_host are required");
  if (p.num_logprobs < 0 || p.num_logprobs > 32)
    throw std::invalid_argument("SampleTokens: num_logprobs must be in [0, 32], got " +
                                std::to_string(p.num_logprobs));
  for (int r = 0; r < p.rows; ++r) {
    const SampleRow& row = p.rows_host[r];
    if (row.history_begin < 0 || row.history_end < row.history_begin ||
        (row.history_end > row.history_begin && !p.history_host))
      throw std::invalid_argument("SampleTokens: bad history range in row " + std::to_string(r));
  }
#pragma omp parallel for schedule(dynamic, 1) if (p.rows > 1)
  for (int r = 0; r < p.rows; ++r) SampleRowOn(p, r);
}

}  // namespace infer::kernels::cpu
