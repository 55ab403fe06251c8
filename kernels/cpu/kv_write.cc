// Scatter of new keys/values into the paged cache (one row per token, slot-addressed).
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {

void WriteKv(const KvWriteParams& p) {
  const int64_t row = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
  for (int i = 0; i < p.num_tokens; ++i) {
    const int64_t slot = p.slot_mapping[i];
    std::memcpy(p.k_cache + slot * row, p.k + i * row, row * sizeof(float));
    std::memcpy(p.v_cache + slot * row, p.v + i * row, row * sizeof(float));
  }
}

}  // namespace infer::kernels::cpu
