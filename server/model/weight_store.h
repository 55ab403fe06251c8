// All the tensors of a model folder, across one or many .safetensors files, by name.
//
// Open(folder) looks, in this order, for
//   1. model.safetensors
//   2. model.safetensors.index.json: {"weight_map": {tensor: shard file}}; every shard must exist
//      and hold exactly the tensors the index assigns to it
//   3. any *.safetensors in the folder (sorted; a name in two files is an error)
// A folder with only PyTorch/TF weights (pytorch_model.bin, ...) is UNIMPLEMENTED with a hint to
// convert; a folder with no weights at all is NOT_FOUND.
//
// ReadF32 converts F32, F16 and BF16 to float32 exactly; other dtypes are INVALID_ARGUMENT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/model/safetensors.h"

namespace infer::model {

class WeightStore {
 public:
  WeightStore() = default;  // empty: Has() is false for every name
  WeightStore(WeightStore&&) noexcept = default;
  WeightStore& operator=(WeightStore&&) noexcept = default;
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  static absl::StatusOr<WeightStore> Open(const std::string& folder);
  // Exactly these files (no index); a tensor name in two files is an error.
  static absl::StatusOr<WeightStore> OpenFiles(const std::vector<std::string>& paths);

  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  // INVALID_ARGUMENT "tensor 'x' is not in <folder> (N tensors)" when absent (a checkpoint that
  // lacks a weight its config needs is malformed input; NOT_FOUND is kept for missing files).
  absl::StatusOr<const TensorInfo*> Get(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> Names() const;
  size_t size() const { return index_.size(); }
  // The file that holds `name` ("" when absent).
  std::string FileOf(std::string_view name) const;
  // The .safetensors files opened, in the order they were opened.
  std::vector<std::string> files() const;
  // The floating dtype holding the most bytes (kF32 when the store holds no float tensors):
  // what the checkpoint was saved in.
  DType PrimaryFloatDType() const;

  // Converts tensor `name` to float32 into out[0, numel). Its shape must equal expected_shape
  // exactly, else INVALID_ARGUMENT "tensor 'h.0.attn.c_attn.weight' has shape [64,192],
  // expected [64,193] (<file>)". `out` needs room for the product of expected_shape.
  absl::Status ReadF32(std::string_view name, std::span<const int64_t> expected_shape,
                       float* out) const;
  absl::Status ReadF32(std::string_view name, std::initializer_list<int64_t> expected_shape,
                       float* out) const {
    return ReadF32(name, std::span<const int64_t>(expected_shape.begin(), expected_shape.size()),
                   out);
  }
  absl::StatusOr<std::vector<float>> ReadF32(std::string_view name,
                                             std::span<const int64_t> expected_shape) const;
  absl::StatusOr<std::vector<float>> ReadF32(std::string_view name,
                                             std::initializer_list<int64_t> expected_shape) const {
    return ReadF32(name, std::span<const int64_t>(expected_shape.begin(), expected_shape.size()));
  }
  // Any shape: returns the data and, when shape != nullptr, stores the shape there.
  absl::StatusOr<std::vector<float>> ReadAnyF32(std::string_view name,
                                                std::vector<int64_t>* shape = nullptr) const;

  // The first `prefix + suffix` that exists, trying prefixes in order ("" is a valid prefix).
  // INVALID_ARGUMENT listing every name tried when none does.
  absl::StatusOr<std::string> Resolve(std::string_view suffix,
                                      std::span<const std::string> prefixes) const;
  absl::StatusOr<std::string> Resolve(std::string_view suffix,
                                      std::initializer_list<std::string> prefixes) const {
    return Resolve(suffix, std::span<const std::string>(prefixes.begin(), prefixes.size()));
  }
  // The first prefix under which `probe` exists (e.g. probe "wte.weight" with prefixes
  // {"transformer.", ""}), for models that resolve every name under one prefix.
  absl::StatusOr<std::string> DetectPrefix(std::string_view probe,
                                           std::span<const std::string> prefixes) const;

 private:
  struct Loc {
    size_t file;
    const TensorInfo* info;  // owned by files_[file], which never moves (unique_ptr)
  };
  absl::Status Add(std::unique_ptr<SafetensorsFile> file);

  std::string origin_;  // folder or file list, for messages
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  absl::flat_hash_map<std::string, Loc> index_;
};

// Exact conversions to float32 (exposed for kernels and tests).
float Bf16ToF32(uint16_t bits);
float F16ToF32(uint16_t bits);
// n elements of `src` (possibly unaligned, little-endian) of dtype F32/F16/BF16 to float32.
void ConvertToF32(DType dtype, const uint8_t* src, size_t n, float* out);

}  // namespace infer::model
