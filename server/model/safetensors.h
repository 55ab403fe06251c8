// A memory-mapped, fully validated .safetensors file.
//
// Layout: [u64 little-endian N][N bytes of JSON header][data]. The header maps tensor names to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} (offsets relative to the start
// of the data section) plus an optional "__metadata__": {string: string}.
//
// Open() checks everything before any pointer is handed out: header length against the file and
// a cap, JSON validity (no duplicate keys), entry keys, dtype names, shape values and the
// element-count overflow, offsets inside the data section, byte length == numel * dtype size,
// and that no two tensors share bytes. Gaps between tensors are allowed (some writers align).
// After Open() succeeds every TensorInfo::data[0, nbytes) lies inside the mapping.
//
// TensorInfo::data is NOT necessarily aligned to the element size: copy with memcpy, or use
// WeightStore::ReadF32 which converts to float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace infer::model {

// Element types a safetensors header may name. Only kF32, kF16 and kBF16 are readable as floats.
enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kI32,
  kU32,
  kI64,
  kU64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kF8E4M3,
  kF8E5M2,
};

size_t DTypeSize(DType t);
// The header spelling: "F32", "BF16", "BOOL", "F8_E4M3", ...
std::string_view DTypeName(DType t);
std::optional<DType> ParseDType(std::string_view name);
// F32, F16, BF16: the types WeightStore::ReadF32 converts.
bool IsFloatReadable(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;     // [] for a scalar
  const uint8_t* data = nullptr;  // inside the file mapping; possibly unaligned
  size_t nbytes = 0;              // == numel() * DTypeSize(dtype)

  int64_t numel() const;
  std::string ShapeString() const;  // "[64,192]"
};

// "[64,192]"
std::string ShapeToString(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Limits on what Open accepts.
  static constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
  static constexpr size_t kMaxRank = 8;
  static constexpr int64_t kMaxDim = int64_t{1} << 40;

  // Missing file -> NOT_FOUND; anything malformed -> INVALID_ARGUMENT naming the file, the tensor
  // or field and the problem.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  // All tensors, sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }

 private:
  SafetensorsFile() = default;
  void Unmap();

  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

}  // namespace infer::model
