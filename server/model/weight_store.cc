#include "server/model/weight_store.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/model/config_json.h"
#include "server/util/status_macros.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

namespace infer::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Debian's absl::string_view is its own type, not std::string_view.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsRegularFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string Quoted(std::string_view s) { return QuoteForMessage(s); }

// A shard name from an index must stay inside the folder.
bool SafeRelativeName(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find('\0') != std::string::npos) return false;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part == ".." || part.empty()) return false;
  }
  return true;
}

constexpr const char* kNonSafetensorsWeights[] = {
    "pytorch_model.bin",  "pytorch_model.bin.index.json", "tf_model.h5",
    "flax_model.msgpack", "model.ckpt.index",             "consolidated.00.pth",
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Conversions.

float Bf16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // +-0
    } else {
      // Subnormal: mant * 2^-24. Shift until the implicit bit (bit 10) appears.
      uint32_t shifts = 0;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        ++shifts;
      }
      mant &= 0x3ffu;
      bits = sign | ((127 - 14 - shifts) << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    // Inf, or NaN (payload kept, made quiet as the hardware conversion does).
    bits = sign | 0x7f800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

void ConvertToF32(DType dtype, const uint8_t* src, size_t n, float* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, src, n * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        out[i] = Bf16ToF32(b);
      }
      return;
    case DType::kF16: {
      size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
      for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
      }
#endif
      for (; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        out[i] = F16ToF32(b);
      }
      return;
    }
    default:
      return;  // callers check IsFloatReadable first
  }
}

// ---------------------------------------------------------------------------------------------
// Opening.

absl::Status WeightStore::Add(std::unique_ptr<SafetensorsFile> file) {
  const size_t idx = files_.size();
  for (const TensorInfo& t : file->tensors()) {
    auto [it, inserted] = index_.try_emplace(t.name, Loc{idx, &t});
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", Quoted(t.name), " appears in both ",
                                                     files_[it->second.file]->path(), " and ",
                                                     file->path()));
    }
  }
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

absl::StatusOr<WeightStore> WeightStore::OpenFiles(const std::vector<std::string>& paths) {
  WeightStore store;
  store.origin_ = paths.size() == 1 ? paths[0] : absl::StrJoin(paths, ", ");
  for (const std::string& p : paths) {
    INFER_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(p));
    INFER_RETURN_IF_ERROR(store.Add(std::make_unique<SafetensorsFile>(std::move(f))));
  }
  return store;
}

absl::StatusOr<WeightStore> WeightStore::Open(const std::string& folder) {
  std::error_code ec;
  const fs::path dir(folder);
  if (!fs::exists(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model folder ", folder, " does not exist"));
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(folder, " is not a directory"));
  }

  // 1. A single file.
  const fs::path single = dir / "model.safetensors";
  if (IsRegularFile(single)) {
    INFER_ASSIGN_OR_RETURN(WeightStore store, OpenFiles({single.string()}));
    store.origin_ = folder;
    return store;
  }

  // 2. A sharded checkpoint with an index.
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (IsRegularFile(index_path)) {
    const std::string ip = index_path.string();
    INFER_ASSIGN_OR_RETURN(json index, LoadJsonFile(ip));
    if (!index.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ip, ": expected a JSON object, got ", index.type_name()));
    }
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ip, ": 'weight_map' must be an object of tensor name to shard file"));
    }
    if (wm->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(ip, ": 'weight_map' lists no tensors"));
    }
    std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensors
    std::map<std::string, std::string, std::less<>> shard_of;  // tensor -> shard
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ip, ": weight_map entry for tensor ", Quoted(it.key()),
                         " must be a file name, got ", JsonForMessage(it.value())));
      }
      const std::string& shard = it.value().get_ref<const std::string&>();
      if (!SafeRelativeName(shard)) {
        return absl::InvalidArgumentError(
            absl::StrCat(ip, ": weight_map entry for tensor ", Quoted(it.key()), " names shard ",
                         Quoted(shard), ", which is not a plain file name inside the folder"));
      }
      by_shard[shard].push_back(it.key());
      shard_of.emplace(it.key(), shard);
    }
    WeightStore store;
    store.origin_ = folder;
    for (const auto& [shard, tensors] : by_shard) {
      const std::string sp = (dir / shard).string();
      if (!IsRegularFile(sp)) {
        return absl::NotFoundError(absl::StrCat(ip, ": shard ", Quoted(shard), " (holding ",
                                                tensors.size(), " tensors, e.g. ",
                                                Quoted(tensors.front()), ") is missing: ", sp));
      }
      INFER_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(sp));
      for (const std::string& t : tensors) {
        if (f.Find(t) == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(ip, ": tensor ", Quoted(t),
                                                         " is mapped to shard ", Quoted(shard),
                                                         ", which does not hold it"));
        }
      }
      for (const TensorInfo& t : f.tensors()) {
        auto it = shard_of.find(t.name);
        if (it == shard_of.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              ip, ": shard ", Quoted(shard), " holds tensor ", Quoted(t.name),
              ", which the weight_map does not list"));
        }
        if (it->second != shard) {
          return absl::InvalidArgumentError(
              absl::StrCat(ip, ": shard ", Quoted(shard), " holds tensor ", Quoted(t.name),
                           ", which the weight_map puts in ", Quoted(it->second)));
        }
      }
      INFER_RETURN_IF_ERROR(store.Add(std::make_unique<SafetensorsFile>(std::move(f))));
    }
    return store;
  }

  // 3. Whatever .safetensors files there are.
  std::vector<std::string> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() == ".safetensors" && IsRegularFile(p)) found.push_back(p.string());
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot list model folder ", folder, ": ", ec.message()));
  }
  if (!found.empty()) {
    std::sort(found.begin(), found.end());
    INFER_ASSIGN_OR_RETURN(WeightStore store, OpenFiles(found));
    store.origin_ = folder;
    return store;
  }

  for (const char* other : kNonSafetensorsWeights) {
    if (fs::exists(dir / other, ec)) {
      return absl::UnimplementedError(absl::StrCat(
          "model folder ", folder, " holds ", other,
          " but no .safetensors weights; only safetensors is supported: convert the checkpoint "
          "(e.g. in Python: model = AutoModel.from_pretrained(folder); "
          "model.save_pretrained(folder, safe_serialization=True))"));
    }
  }
  return absl::NotFoundError(
      absl::StrCat("model folder ", folder,
                   " has no weights: expected model.safetensors, model.safetensors.index.json "
                   "or *.safetensors"));
}

// ---------------------------------------------------------------------------------------------
// Lookup.

const TensorInfo* WeightStore::Find(std::string_view name) const {
  auto it = index_.find(AV(name));
  return it == index_.end() ? nullptr : it->second.info;
}

absl::StatusOr<const TensorInfo*> WeightStore::Get(std::string_view name) const {
  const TensorInfo* t = Find(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Quoted(name), " is not in ",
                                                   origin_.empty() ? "<empty store>" : origin_,
                                                   " (", index_.size(), " tensors)"));
  }
  return t;
}

std::vector<std::string> WeightStore::Names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, loc] : index_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::string WeightStore::FileOf(std::string_view name) const {
  auto it = index_.find(AV(name));
  return it == index_.end() ? std::string() : files_[it->second.file]->path();
}

std::vector<std::string> WeightStore::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

DType WeightStore::PrimaryFloatDType() const {
  size_t f32 = 0, f16 = 0, bf16 = 0;
  for (const auto& [name, loc] : index_) {
    switch (loc.info->dtype) {
      case DType::kF32: f32 += loc.info->nbytes; break;
      case DType::kF16: f16 += loc.info->nbytes; break;
      case DType::kBF16: bf16 += loc.info->nbytes; break;
      default: break;
    }
  }
  if (bf16 > f32 && bf16 >= f16) return DType::kBF16;
  if (f16 > f32 && f16 > bf16) return DType::kF16;
  return DType::kF32;
}

// ---------------------------------------------------------------------------------------------
// Reading.

absl::Status WeightStore::ReadF32(std::string_view name, std::span<const int64_t> expected_shape,
                                  float* out) const {
  INFER_ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  if (!std::equal(t->shape.begin(), t->shape.end(), expected_shape.begin(),
                  expected_shape.end())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", Quoted(name), " has shape ", t->ShapeString(), ", expected ",
        ShapeToString(std::vector<int64_t>(expected_shape.begin(), expected_shape.end())), " (",
        FileOf(name), ")"));
  }
  if (!IsFloatReadable(t->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Quoted(name), " has dtype ",
                                                   AV(DTypeName(t->dtype)),
                                                   ", which cannot be read as float (",
                                                   FileOf(name), ")"));
  }
  ConvertToF32(t->dtype, t->data, static_cast<size_t>(t->numel()), out);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> WeightStore::ReadF32(
    std::string_view name, std::span<const int64_t> expected_shape) const {
  INFER_ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  std::vector<float> out(static_cast<size_t>(t->numel()));
  INFER_RETURN_IF_ERROR(ReadF32(name, expected_shape, out.data()));
  return out;
}

absl::StatusOr<std::vector<float>> WeightStore::ReadAnyF32(std::string_view name,
                                                           std::vector<int64_t>* shape) const {
  INFER_ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  std::vector<float> out(static_cast<size_t>(t->numel()));
  INFER_RETURN_IF_ERROR(ReadF32(name, t->shape, out.data()));
  if (shape != nullptr) *shape = t->shape;
  return out;
}

absl::StatusOr<std::string> WeightStore::Resolve(std::string_view suffix,
                                                 std::span<const std::string> prefixes) const {
  static const std::string kNoPrefix[] = {""};
  if (prefixes.empty()) prefixes = kNoPrefix;  // no prefixes: the name as given
  std::vector<std::string> tried;
  for (const std::string& p : prefixes) {
    std::string full = absl::StrCat(p, AV(suffix));
    if (Has(full)) return full;
    tried.push_back(Quoted(full));
  }
  return absl::InvalidArgumentError(absl::StrCat("missing weight: none of ",
                                                 absl::StrJoin(tried, ", "), " is in ",
                                                 origin_.empty() ? "<empty store>" : origin_));
}

absl::StatusOr<std::string> WeightStore::DetectPrefix(
    std::string_view probe, std::span<const std::string> prefixes) const {
  INFER_ASSIGN_OR_RETURN(std::string full, Resolve(probe, prefixes));
  return full.substr(0, full.size() - probe.size());
}

}  // namespace infer::model
