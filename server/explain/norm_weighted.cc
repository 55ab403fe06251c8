#include "server/explain/norm_weighted.h"

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace infer::explain {

// Cost. Summing heads before the norm naively costs T^2 * heads * hidden (2.4 GFLOP at T=512,
// 12 heads, hidden 768). Instead, with F_j = [f_1(x_j) .. f_H(x_j)] and a = alpha[:, i, j]:
//   ||sum_h a_h f_h(x_j)||^2 = a^T G_j a,   G_j = F_j F_j^T  (heads x heads, per key)
// so the hidden size is paid once per key (T * heads^2/2 * hidden) and each (i, j) costs
// heads^2/2. G and the quadratic forms are in double: the terms of a^T G a can cancel when
// heads write in opposing directions, and float would lose the small remainder.
NormWeightedMaps NormWeightedAttention(std::span<const float> probs, std::span<const float> values,
                                       std::span<const float> out_proj, int heads, int kv_heads,
                                       int head_dim, int hidden, int tokens) {
  const size_t nh = heads, t = tokens, d = head_dim, c = hidden;
  assert(heads > 0 && kv_heads > 0 && heads % kv_heads == 0);
  assert(probs.size() == nh * t * t);
  assert(values.size() == t * kv_heads * d);
  assert(out_proj.size() == nh * d * c);
  NormWeightedMaps out;
  out.per_head.assign(nh * t * t, 0.0f);
  out.summed.assign(t * t, 0.0f);
  if (t == 0 || d == 0 || c == 0) return out;
  const int group = heads / kv_heads;

  // ft[h] = (V_{g(h)} W_h)^T: [hidden, T], keys contiguous, so the per-key sums below run
  // along contiguous memory and vectorise.
  std::vector<float> ft(nh * c * t);
  for (int h = 0; h < heads; ++h) {
    const float* v = values.data() + static_cast<size_t>(h / group) * d;  // [T, d], stride kv*d
    const float* w = out_proj.data() + static_cast<size_t>(h) * d * c;    // [d, hidden]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, hidden, tokens, head_dim, 1.0f, w, hidden,
                v, kv_heads * head_dim, 0.0f, ft.data() + h * c * t, tokens);
  }

  // gram[p][j] = <f_a(x_j), f_b(x_j)> for the head pairs p = (a, b), a <= b.
  const size_t pairs = nh * (nh + 1) / 2;
  std::vector<double> gram(pairs * t, 0.0);
  for (size_t k = 0; k < c; ++k) {
    size_t p = 0;
    for (size_t a = 0; a < nh; ++a) {
      const float* fa = ft.data() + (a * c + k) * t;
      for (size_t b = a; b < nh; ++b, ++p) {
        const float* fb = ft.data() + (b * c + k) * t;
        double* g = gram.data() + p * t;
        for (size_t j = 0; j < t; ++j) g[j] += static_cast<double>(fa[j]) * fb[j];
      }
    }
  }

  // Per head: alpha * ||f_h(x_j)||, the norm being the diagonal of G.
  std::vector<double> acc(t);
  {
    size_t p = 0;
    for (size_t h = 0; h < nh; ++h) {
      std::vector<float> norm(t);
      for (size_t j = 0; j < t; ++j) norm[j] = static_cast<float>(std::sqrt(gram[p * t + j]));
      p += nh - h;  // the next diagonal pair (h+1, h+1)
      for (size_t i = 0; i < t; ++i) {
        const float* a = probs.data() + (h * t + i) * t;
        float* o = out.per_head.data() + (h * t + i) * t;
        for (size_t j = 0; j < t; ++j) o[j] = a[j] * norm[j];
      }
    }
  }

  // Summed: a^T G_j a for every query row i, vectorised along the keys j.
  for (size_t i = 0; i < t; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    size_t p = 0;
    for (size_t a = 0; a < nh; ++a) {
      const float* ra = probs.data() + (a * t + i) * t;
      for (size_t b = a; b < nh; ++b, ++p) {
        const float* rb = probs.data() + (b * t + i) * t;
        const double* g = gram.data() + p * t;
        const double twice = a == b ? 1.0 : 2.0;  // off-diagonal pairs stand for (a,b) and (b,a)
        for (size_t j = 0; j < t; ++j) acc[j] += twice * ra[j] * static_cast<double>(rb[j]) * g[j];
      }
    }
    float* o = out.summed.data() + i * t;
    // Rounding can leave a true zero slightly negative.
    for (size_t j = 0; j < t; ++j) o[j] = static_cast<float>(std::sqrt(std::max(acc[j], 0.0)));
  }
  return out;
}

}  // namespace infer::explain
