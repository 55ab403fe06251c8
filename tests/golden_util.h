// Reading the golden files tests/golden/make_golden.py wrote, and comparing by relative error.
#pragma once

#include <cmath>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/model/weight_store.h"

namespace infer::testing {

inline std::string GoldenPath(const std::string& rel) { return std::string(INFER_GOLDEN_DIR) + "/" + rel; }

inline nlohmann::json ReadGoldenJson(const std::string& rel) {
  std::ifstream in(GoldenPath(rel));
  EXPECT_TRUE(in.good()) << "missing golden file " << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

// Expected tensors of one model: <case>.logits, <case>.hidden_states.<i>, ...
class GoldenTensors {
 public:
  explicit GoldenTensors(const std::string& rel) {
    auto store = model::WeightStore::OpenFiles({GoldenPath(rel)});
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) store_ = std::move(*store);
  }
  bool Has(const std::string& name) const { return store_.Has(name); }
  std::vector<float> Get(const std::string& name) const {
    const model::TensorInfo* info = store_.Find(name);
    EXPECT_NE(info, nullptr) << "golden tensor " << name;
    if (info == nullptr) return {};
    auto v = store_.ReadF32(name, std::span<const int64_t>(info->shape));
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::vector<float>{};
  }

 private:
  model::WeightStore store_;
};

// ||got - want|| / ||want||; NaN anywhere gives +inf.
inline double RelativeError(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return INFINITY;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

inline double MaxAbsError(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return INFINITY;
  double m = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    m = std::max(m, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return m;
}

constexpr double kFloat32Tolerance = 1e-4;  // DESIGN.md: fidelity on the CPU in float32

}  // namespace infer::testing
