// Scatter of new keys/values into the paged cache (one row per token, slot-addressed).
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

void WriteKv(const KvWriteParams& p) {
  const int64_t row = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
  const float* k = static_cast<const float*>(p.k);
  const float* v = static_cast<const float*>(p.v);
  float* kc = static_cast<float*>(p.k_cache);
  float* vc = static_cast<float*>(p.v_cache);
  for (int i = 0; i < p.num_tokens; ++i) {
    const int64_t slot = p.slot_mapping[i];
    std::memcpy(kc + slot * row, k + i * row, row * sizeof(float));
    std::memcpy(vc + slot * row, v + i * row, row * sizeof(float));
  }
}

}  // namespace infer::kernels::cpu
