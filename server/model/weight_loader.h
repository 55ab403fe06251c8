// Moves named checkpoint tensors onto a backend (in its ActivationDType), resolving the prefixes different
// Hugging Face classes give the same weight ("transformer.h.0..." vs "h.0...").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/model/weight_store.h"

namespace infer::model {

class WeightLoader {
 public:
  // The first prefix under which a probe name exists wins for every later lookup.
  WeightLoader(const WeightStore& store, kernels::Backend* backend,
               std::vector<std::string> prefixes);

  bool Has(std::string_view name) const;
  // Loads `name` with exactly `shape` as stored.
  absl::StatusOr<kernels::Tensor> Load(std::string_view name, std::vector<int64_t> shape) const;
  // Loads a tensor stored [rows, cols] and returns it transposed, [cols, rows] (GPT-2's Conv1D
  // stores [in, out]; the op interface wants [out, in]).
  absl::StatusOr<kernels::Tensor> LoadTransposed(std::string_view name, int64_t rows,
                                                 int64_t cols) const;
  // Loads a [rows, cols] tensor and returns rows [begin, end) of its transpose: used to split a
  // fused QKV Conv1D weight into separate [out, in] projections.
  absl::StatusOr<kernels::Tensor> LoadTransposedSlice(std::string_view name, int64_t rows,
                                                      int64_t cols, int64_t begin,
                                                      int64_t end) const;
  // Elements [begin, end) of a 1-D tensor of length n.
  absl::StatusOr<kernels::Tensor> LoadSlice(std::string_view name, int64_t n, int64_t begin,
                                            int64_t end) const;
  absl::StatusOr<std::vector<float>> LoadHost(std::string_view name,
                                              std::vector<int64_t> shape) const;

 private:
  absl::StatusOr<std::string> Resolve(std::string_view name) const;

  const WeightStore& store_;
  kernels::Backend* backend_;
  std::vector<std::string> prefixes_;
};

}  // namespace infer::model
