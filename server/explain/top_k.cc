#include "server/explain/top_k.h"

namespace infer::explain {

void TopKRow(std::span<const float> row, int k, uint32_t* indices, float* values) {
  const std::vector<uint32_t> idx = TopKIndices(row, k);
  for (size_t i = 0; i < idx.size(); ++i) {
    indices[i] = idx[i];
    values[i] = row[idx[i]];
  }
}

}  // namespace infer::explain
