#include "server/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "server/model/config_json.h"

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swapping");

namespace infer::model {
namespace {

using nlohmann::json;

// Debian's absl::string_view is its own type, not std::string_view.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct DTypeEntry {
  DType type;
  std::string_view name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kBool, "BOOL", 1},      {DType::kU8, "U8", 1},         {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},        {DType::kU16, "U16", 2},       {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},        {DType::kI64, "I64", 8},       {DType::kU64, "U64", 8},
    {DType::kF16, "F16", 2},        {DType::kBF16, "BF16", 2},     {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},        {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

absl::Status Bad(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", AV(what)));
}

absl::Status BadTensor(const std::string& path, std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": tensor ", QuoteForMessage(name), ": ", AV(what)));
}

// A non-negative JSON integer that fits in int64, else nullopt. Floats and bools are rejected.
std::optional<uint64_t> NonNegativeInt(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return std::nullopt;
    return static_cast<uint64_t>(i);
  }
  return std::nullopt;
}

struct Range {
  uint64_t begin, end;
  size_t tensor;
};

}  // namespace

size_t DTypeSize(DType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.type == t) return e.size;
  }
  return 0;
}

std::string_view DTypeName(DType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.type == t) return e.name;
  }
  return "?";
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

bool IsFloatReadable(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow at Open
  return n;
}

std::string TensorInfo::ShapeString() const { return ShapeToString(shape); }

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      tensors_(std::move(other.tensors_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

void SafetensorsFile::Unmap() {
  if (map_ != nullptr) {
    ::munmap(map_, size_);
    map_ = nullptr;
  }
  size_ = 0;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(AV(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;

  // --- Map the file. ---
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": file not found"));
    }
    return Bad(path, absl::StrCat("cannot open: ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Bad(path, absl::StrCat("cannot stat: ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Bad(path, "not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size == 0) {
    ::close(fd);
    return Bad(path, "file is empty (0 bytes); a safetensors file starts with an 8-byte header "
                     "length");
  }
  if (file_size < 8) {
    ::close(fd);
    return Bad(path, absl::StrCat("file is truncated: ", file_size,
                                  " bytes, shorter than the 8-byte header length"));
  }
  if (file_size > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    return Bad(path, "file too large to map");
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) {
    return Bad(path, absl::StrCat("mmap failed: ", std::strerror(map_err)));
  }
  file.map_ = map;
  file.size_ = static_cast<size_t>(file_size);
  const uint8_t* bytes = static_cast<const uint8_t*>(map);

  // --- Header length. ---
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian host (static_assert above)
  if (header_len > kMaxHeaderBytes) {
    return Bad(path, absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                  kMaxHeaderBytes, " bytes (not a safetensors file?)"));
  }
  if (header_len > file_size - 8) {
    return Bad(path, absl::StrCat("header length ", header_len, " runs past the end of the file (",
                                  file_size - 8, " bytes after the length field); file truncated?"));
  }
  if (header_len < 2) {
    return Bad(path, absl::StrCat("header length ", header_len,
                                  " is too short for a JSON object"));
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8),
                                static_cast<size_t>(header_len));
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;

  // --- JSON. ---
  if (header.front() != '{') {
    return Bad(path, "header does not start with '{': not a JSON object");
  }
  JsonLimits limits;
  limits.max_bytes = kMaxHeaderBytes;
  limits.max_depth = 8;
  absl::StatusOr<json> parsed = ParseJson(header, absl::StrCat(path, ": header"), limits);
  if (!parsed.ok()) return parsed.status();
  const json& root = *parsed;
  if (!root.is_object()) {
    return Bad(path, absl::StrCat("header is a JSON ", root.type_name(), ", not an object"));
  }

  // --- Entries. ---
  std::vector<Range> ranges;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (entry.is_null()) continue;
      if (!entry.is_object()) {
        return Bad(path, absl::StrCat("__metadata__ must be an object of string to string, got ",
                                      JsonForMessage(entry)));
      }
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return Bad(path, absl::StrCat("__metadata__ value for key ",
                                        JsonForMessage(json(m.key())),
                                        " must be a string, got ", JsonForMessage(m.value())));
        }
        file.metadata_.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    if (name.empty()) return Bad(path, "a tensor has an empty name");
    if (!entry.is_object()) {
      return BadTensor(path, name,
                       absl::StrCat("entry must be an object, got ", JsonForMessage(entry)));
    }
    for (auto k = entry.begin(); k != entry.end(); ++k) {
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets") {
        return BadTensor(path, name,
                         absl::StrCat("unknown key ", JsonForMessage(json(k.key())),
                                      " (expected dtype, shape, data_offsets)"));
      }
    }
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end()) return BadTensor(path, name, "missing 'dtype'");
    if (sh == entry.end()) return BadTensor(path, name, "missing 'shape'");
    if (off == entry.end()) return BadTensor(path, name, "missing 'data_offsets'");

    TensorInfo info;
    info.name = name;
    if (!dt->is_string()) {
      return BadTensor(path, name,
                       absl::StrCat("'dtype' must be a string, got ", JsonForMessage(*dt)));
    }
    std::optional<DType> dtype = ParseDType(dt->get_ref<const std::string&>());
    if (!dtype) {
      return BadTensor(path, name, absl::StrCat("unknown dtype ", JsonForMessage(*dt)));
    }
    info.dtype = *dtype;

    if (!sh->is_array()) {
      return BadTensor(path, name,
                       absl::StrCat("'shape' must be a list of integers, got ",
                                    JsonForMessage(*sh)));
    }
    if (sh->size() > kMaxRank) {
      return BadTensor(path, name, absl::StrCat("shape has ", sh->size(),
                                                " dimensions, more than the limit of ", kMaxRank));
    }
    uint64_t numel = 1;
    for (const json& d : *sh) {
      if (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0) {
        return BadTensor(path, name, absl::StrCat("negative dimension in shape ",
                                                  JsonForMessage(*sh)));
      }
      std::optional<uint64_t> dim = NonNegativeInt(d);
      if (!dim) {
        return BadTensor(path, name, absl::StrCat("shape ", JsonForMessage(*sh),
                                                  " must hold non-negative integers"));
      }
      if (*dim > static_cast<uint64_t>(kMaxDim)) {
        return BadTensor(path, name,
                         absl::StrCat("dimension ", *dim, " in shape ", JsonForMessage(*sh),
                                      " is absurdly large"));
      }
      info.shape.push_back(static_cast<int64_t>(*dim));
      if (__builtin_mul_overflow(numel, *dim, &numel) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return BadTensor(path, name, absl::StrCat("shape ", JsonForMessage(*sh),
                                                  " overflows the element count"));
      }
    }
    uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(info.dtype)),
                               &expected_bytes)) {
      return BadTensor(path, name, absl::StrCat("shape ", JsonForMessage(*sh),
                                                " overflows the byte count"));
    }

    if (!off->is_array() || off->size() != 2) {
      return BadTensor(path, name,
                       absl::StrCat("'data_offsets' must be [begin, end], got ",
                                    JsonForMessage(*off)));
    }
    std::optional<uint64_t> begin = NonNegativeInt((*off)[0]);
    std::optional<uint64_t> end = NonNegativeInt((*off)[1]);
    if (!begin || !end) {
      return BadTensor(path, name,
                       absl::StrCat("'data_offsets' must be two non-negative integers, got ",
                                    JsonForMessage(*off)));
    }
    if (*begin > *end) {
      return BadTensor(path, name, absl::StrCat("data_offsets ", JsonForMessage(*off),
                                                " are reversed (begin > end)"));
    }
    if (*end > data_size) {
      return BadTensor(path, name,
                       absl::StrCat("data_offsets ", JsonForMessage(*off),
                                    " run past the end of the data section (", data_size,
                                    " bytes); file truncated?"));
    }
    if (*end - *begin != expected_bytes) {
      return BadTensor(path, name,
                       absl::StrCat("data_offsets ", JsonForMessage(*off), " hold ",
                                    *end - *begin, " bytes but ", AV(DTypeName(info.dtype)),
                                    " shape ", ShapeToString(info.shape), " needs ",
                                    expected_bytes));
    }
    info.data = data + *begin;
    info.nbytes = static_cast<size_t>(expected_bytes);
    ranges.push_back({*begin, *end, file.tensors_.size()});
    file.tensors_.push_back(std::move(info));
  }

  // --- No two tensors may share bytes. ---
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Range* prev = nullptr;  // last non-empty range
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;  // empty tensors occupy no bytes
    if (prev != nullptr && r.begin < prev->end) {
      return Bad(path, absl::StrCat("tensors ", QuoteForMessage(file.tensors_[prev->tensor].name),
                                    " [", prev->begin, ",", prev->end, ") and ",
                                    QuoteForMessage(file.tensors_[r.tensor].name), " [",
                                    r.begin, ",", r.end, ") overlap"));
    }
    if (prev == nullptr || r.end > prev->end) prev = &r;
  }

  // tensors_ is in name order already (nlohmann objects iterate sorted); index it.
  file.index_.reserve(file.tensors_.size());
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.index_.emplace(file.tensors_[i].name, i);
  return file;
}

}  // namespace infer::model
