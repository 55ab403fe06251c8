#include "server/model/weight_loader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/util/status_macros.h"

namespace infer::model {

WeightLoader::WeightLoader(const WeightStore& store, kernels::Backend* backend,
                           std::vector<std::string> prefixes)
    : store_(store), backend_(backend), prefixes_(std::move(prefixes)) {}

absl::StatusOr<std::string> WeightLoader::Resolve(std::string_view name) const {
  for (const std::string& p : prefixes_) {
    std::string full = absl::StrCat(p, std::string(name));
    if (store_.Has(full)) return full;
  }
  std::vector<std::string> tried;
  for (const std::string& p : prefixes_) tried.push_back(absl::StrCat("'", p, std::string(name), "'"));
  return absl::InvalidArgumentError(
      absl::StrCat("missing weight: none of ", absl::StrJoin(tried, ", "), " is in the checkpoint"));
}

bool WeightLoader::Has(std::string_view name) const { return Resolve(name).ok(); }

absl::StatusOr<std::vector<float>> WeightLoader::LoadHost(std::string_view name,
                                                          std::vector<int64_t> shape) const {
  INFER_ASSIGN_OR_RETURN(std::string full, Resolve(name));
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> host(n);
  INFER_RETURN_IF_ERROR(store_.ReadF32(full, shape, host.data()));
  return host;
}

absl::StatusOr<kernels::Tensor> WeightLoader::Load(std::string_view name,
                                                   std::vector<int64_t> shape) const {
  INFER_ASSIGN_OR_RETURN(std::vector<float> host, LoadHost(name, shape));
  return backend_->UploadWeight(host.data(), std::move(shape));
}

absl::StatusOr<kernels::Tensor> WeightLoader::LoadTransposedSlice(std::string_view name,
                                                                  int64_t rows, int64_t cols,
                                                                  int64_t begin,
                                                                  int64_t end) const {
  INFER_ASSIGN_OR_RETURN(std::vector<float> host, LoadHost(name, {rows, cols}));
  std::vector<float> t((end - begin) * rows);
  for (int64_t c = begin; c < end; ++c) {
    for (int64_t r = 0; r < rows; ++r) t[(c - begin) * rows + r] = host[r * cols + c];
  }
  return backend_->UploadWeight(t.data(), {end - begin, rows});
}

absl::StatusOr<kernels::Tensor> WeightLoader::LoadTransposed(std::string_view name, int64_t rows,
                                                             int64_t cols) const {
  return LoadTransposedSlice(name, rows, cols, 0, cols);
}

absl::StatusOr<kernels::Tensor> WeightLoader::LoadSlice(std::string_view name, int64_t n,
                                                        int64_t begin, int64_t end) const {
  INFER_ASSIGN_OR_RETURN(std::vector<float> host, LoadHost(name, {n}));
  return backend_->UploadWeight(host.data() + begin, {end - begin});
}

}  // namespace infer::model
