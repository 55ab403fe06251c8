// Attention rollout (Abnar & Zuidema 2020): how much each token's final representation draws on
// each input token, following attention through the residual connections layer by layer.
#pragma once

#include <span>
#include <vector>

namespace infer::explain {

// Feed layers in order, 0 first. For layer l with head-averaged attention A_l:
//   Ahat_l = normalize_rows(0.5 * A_l + 0.5 * I)   (the 0.5 I stands for the residual path)
//   R_0 = Ahat_0,  R_l = Ahat_l * R_{l-1}
// The product is kept in double between layers (a deep model multiplies dozens of these) and
// handed out as float.
class RolloutAccumulator {
 public:
  explicit RolloutAccumulator(int tokens);

  // probs: one layer's attention probabilities, row-major [heads, T, T] (query, key).
  void AddLayer(std::span<const float> probs, int heads);

  // [T, T] row-major: the rollout through the last added layer (empty before the first).
  const std::vector<float>& current() const { return current_; }
  int layers() const { return layers_; }

 private:
  int tokens_;
  int layers_ = 0;
  std::vector<double> rollout_;  // [T, T]
  std::vector<float> current_;   // rollout_ as float
};

}  // namespace infer::explain
