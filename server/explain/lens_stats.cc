#include "server/explain/lens_stats.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "server/explain/top_k.h"

namespace infer::explain {
namespace {

// log softmax in double: x - max - log(sum exp(x - max)). Working in logs keeps entropy and KL
// finite for probabilities that underflow as doubles.
std::vector<double> LogSoftmax(std::span<const float> logits) {
  std::vector<double> out(logits.size());
  double mx = -std::numeric_limits<double>::infinity();
  for (float x : logits) mx = std::max(mx, static_cast<double>(x));
  double sum = 0.0;
  for (float x : logits) sum += std::exp(x - mx);
  const double log_z = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_z;
  return out;
}

}  // namespace

LensStats LensAtPosition(std::span<const float> layer_logits, std::span<const float> final_logits,
                         int32_t target_id, int top_k) {
  assert(layer_logits.size() == final_logits.size());
  const size_t v = layer_logits.size();
  LensStats s;
  if (v == 0) return s;
  const std::vector<double> logp = LogSoftmax(layer_logits);
  std::vector<double> p(v);
  for (size_t i = 0; i < v; ++i) p[i] = std::exp(logp[i]);

  for (uint32_t id : TopKIndices(std::span<const double>(p), top_k)) {
    s.top_ids.push_back(static_cast<int32_t>(id));
    s.top_probs.push_back(static_cast<float>(p[id]));
  }

  if (target_id >= 0 && static_cast<size_t>(target_id) < v) {
    const double pt = p[target_id];
    uint32_t ahead = 0;
    for (size_t i = 0; i < v; ++i) {
      if (p[i] > pt || (p[i] == pt && i < static_cast<size_t>(target_id))) ++ahead;
    }
    s.target_id = target_id;
    s.target_rank = ahead + 1;
    s.target_prob = static_cast<float>(pt);
  }

  double entropy = 0.0;
  for (size_t i = 0; i < v; ++i) {
    if (p[i] > 0.0) entropy -= p[i] * logp[i];
  }
  s.entropy = static_cast<float>(entropy);

  const std::vector<double> logq = LogSoftmax(final_logits);
  double kl = 0.0;
  for (size_t i = 0; i < v; ++i) {
    const double q = std::exp(logq[i]);
    if (q > 0.0) kl += q * (logq[i] - logp[i]);
  }
  // KL is non-negative; summation rounding can leave a true 0 at -1e-17.
  s.kl_to_final = static_cast<float>(std::max(kl, 0.0));
  return s;
}

}  // namespace infer::explain

