// SafetensorsFile and WeightStore::ReadF32 on files this test writes by hand: exact round trips
// for F32/F16/BF16, then malformed files, each refused with a message naming the problem, then a
// deterministic mutation loop that must never crash.
#include "server/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/model/weight_store.h"

namespace infer::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// A tiny safetensors writer.

struct Spec {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// [u64 length][header][data], no padding.
std::string Raw(std::string_view header, std::string_view data, std::optional<uint64_t> len = {}) {
  uint64_t n = len.value_or(header.size());
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  out.append(header);
  out.append(data);
  return out;
}

// Tensors laid out back to back; header padded with spaces to `align` (as real writers do).
std::string Build(const std::vector<Spec>& specs, const json& metadata = nullptr,
                  size_t align = 8) {
  json h = json::object();
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::string data;
  for (const Spec& s : specs) {
    h[s.name] = {{"dtype", s.dtype},
                 {"shape", s.shape},
                 {"data_offsets", {data.size(), data.size() + s.bytes.size()}}};
    data += s.bytes;
  }
  std::string header = h.dump();
  while (align > 1 && header.size() % align != 0) header += ' ';
  return Raw(header, data);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "safetensors_test_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, std::string_view bytes) const {
    std::string p = path_ + "/" + name;
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

uint16_t F32ToBf16RoundNearestEven(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Reference half -> float by arithmetic (independent of the bit manipulation under test).
float HalfReference(uint16_t h) {
  int sign = (h >> 15) ? -1 : 1;
  int exp = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -24);
  if (exp == 31) {
    return mant == 0 ? sign * std::numeric_limits<float>::infinity()
                     : std::copysign(std::numeric_limits<float>::quiet_NaN(), sign);
  }
  return sign * std::ldexp(static_cast<float>(1024 + mant), exp - 25);
}

// ---------------------------------------------------------------------------------------------
// Valid files.

TEST(SafetensorsTest, F32RoundTripWithMetadata) {
  TempDir dir;
  std::vector<float> w = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -1e30f};
  std::vector<float> b = {0.5f, -0.5f, 7.0f};
  std::string path = dir.Write(
      "m.safetensors",
      Build({{"h.0.w", "F32", {2, 3}, Bytes(w)}, {"h.0.b", "F32", {3}, Bytes(b)}},
            json{{"format", "pt"}, {"note", "hi"}}));
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(f->names(), ::testing::ElementsAre("h.0.b", "h.0.w"));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "hi");
  const TensorInfo* t = f->Find("h.0.w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::kF32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->nbytes, 24u);
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->ShapeString(), "[2,3]");
  EXPECT_EQ(std::memcmp(t->data, w.data(), 24), 0);
  EXPECT_EQ(f->Find("nope"), nullptr);

  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<float>> got = store->ReadF32("h.0.w", {2, 3});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, w);
  std::vector<float> out(3, -1.0f);
  ASSERT_TRUE(store->ReadF32("h.0.b", {3}, out.data()).ok());
  EXPECT_EQ(out, b);
  EXPECT_EQ(store->PrimaryFloatDType(), DType::kF32);
}

TEST(SafetensorsTest, F16AllBitPatternsConvertExactly) {
  TempDir dir;
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  // 65537 elements: an odd count exercises both the vector body and the scalar tail.
  all.push_back(0x3c00);
  std::string path = dir.Write(
      "h.safetensors",
      Build({{"x", "F16", {static_cast<int64_t>(all.size())}, Bytes(all)}}));
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<float>> got =
      store->ReadF32("x", {static_cast<int64_t>(all.size())});
  ASSERT_TRUE(got.ok()) << got.status();
  int mismatches = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    float want = HalfReference(all[i]);
    float have = (*got)[i];
    bool ok = std::isnan(want) ? (std::isnan(have) && std::signbit(have) == std::signbit(want))
                               : std::bit_cast<uint32_t>(have) == std::bit_cast<uint32_t>(want);
    if (!ok && ++mismatches < 10) {
      ADD_FAILURE() << "half 0x" << std::hex << all[i] << ": got " << have << ", want " << want;
    }
    // The scalar path agrees with the (possibly vectorised) bulk path.
    float scalar = F16ToF32(all[i]);
    EXPECT_TRUE(std::isnan(have) ? std::isnan(scalar)
                                 : std::bit_cast<uint32_t>(scalar) ==
                                       std::bit_cast<uint32_t>(have))
        << std::hex << all[i];
  }
  EXPECT_EQ(mismatches, 0);
  // Named cases.
  EXPECT_EQ((*got)[0x0001], std::ldexp(1.0f, -24));            // smallest subnormal
  EXPECT_EQ((*got)[0x03ff], std::ldexp(1023.0f, -24));         // largest subnormal
  EXPECT_EQ((*got)[0x0400], std::ldexp(1.0f, -14));            // smallest normal
  EXPECT_EQ((*got)[0x8001], -std::ldexp(1.0f, -24));           // negative subnormal
  EXPECT_EQ((*got)[0x7bff], 65504.0f);                         // largest finite
  EXPECT_EQ((*got)[0x3c00], 1.0f);
  EXPECT_EQ((*got)[0xc000], -2.0f);
  EXPECT_TRUE(std::signbit((*got)[0x8000]) && (*got)[0x8000] == 0.0f);  // -0
  EXPECT_EQ((*got)[0x7c00], std::numeric_limits<float>::infinity());
  EXPECT_EQ((*got)[0xfc00], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan((*got)[0x7e00]));
  EXPECT_TRUE(std::isnan((*got)[0x7c01]));  // signalling NaN stays NaN, not inf
  EXPECT_EQ(store->PrimaryFloatDType(), DType::kF16);
}

TEST(SafetensorsTest, Bf16AllBitPatternsAndRounding) {
  TempDir dir;
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  // Values written through a round-to-nearest-even writer.
  const float cases[] = {
      1.0f,
      1.0f + std::ldexp(1.0f, -8),      // halfway between 1 and 1+2^-7: ties to even -> 1
      1.0f + 3 * std::ldexp(1.0f, -8),  // halfway, odd below: ties to even -> 1+2^-6
      1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -20),  // just above 1+2^-7: stays there
      3.0e38f,                          // rounds up to the largest bf16 below overflow
      3.4e38f,                          // rounds past the largest bf16: inf
      -0.0f,
      std::ldexp(1.0f, -133),           // smallest bf16 subnormal
  };
  const float expected[] = {1.0f,
                            1.0f,
                            1.0f + std::ldexp(1.0f, -6),
                            1.0f + std::ldexp(1.0f, -7),
                            std::bit_cast<float>(uint32_t{0x7f62u} << 16),
                            std::numeric_limits<float>::infinity(),
                            -0.0f,
                            std::ldexp(1.0f, -133)};
  std::vector<uint16_t> rounded;
  for (float c : cases) rounded.push_back(F32ToBf16RoundNearestEven(c));
  std::string path = dir.Write(
      "b.safetensors", Build({{"all", "BF16", {256, 256}, Bytes(all)},
                              {"r", "BF16", {static_cast<int64_t>(rounded.size())},
                               Bytes(rounded)}}));
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<float>> got = store->ReadF32("all", {256, 256});
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < 65536; ++i) {
    // bf16 is the high half of a float32, NaN payloads included.
    ASSERT_EQ(std::bit_cast<uint32_t>((*got)[i]), static_cast<uint32_t>(i) << 16) << i;
  }
  absl::StatusOr<std::vector<float>> r =
      store->ReadF32("r", {static_cast<int64_t>(rounded.size())});
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < rounded.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>((*r)[i]), std::bit_cast<uint32_t>(expected[i]))
        << "case " << i << ": " << cases[i] << " -> " << (*r)[i];
  }
  EXPECT_EQ(store->PrimaryFloatDType(), DType::kBF16);
}

TEST(SafetensorsTest, UnalignedScalarAndEmptyTensors) {
  TempDir dir;
  std::vector<float> v = {1.0f, 2.0f, 3.0f};
  std::vector<float> s = {42.0f};
  json h = {{"a", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 12}}}},
            {"empty", {{"dtype", "F32"}, {"shape", {0, 4}}, {"data_offsets", {12, 12}}}},
            {"scalar", {{"dtype", "F32"}, {"shape", json::array()}, {"data_offsets", {12, 16}}}}};
  std::string header = h.dump();
  if (header.size() % 2 == 0) header += ' ';  // odd length: the data starts at an odd address
  std::string file = Raw(header, Bytes(v) + Bytes(s));
  std::string path = dir.Write("u.safetensors", file);
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<float>> a = store->ReadF32("a", {3});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, v);
  EXPECT_NE(reinterpret_cast<uintptr_t>(store->Find("a")->data) % 2, 0u);
  std::string scalar = "scalar";
  std::vector<int64_t> shape = {7};
  absl::StatusOr<std::vector<float>> sc = store->ReadAnyF32(scalar, &shape);
  ASSERT_TRUE(sc.ok()) << sc.status();
  EXPECT_EQ(*sc, s);
  EXPECT_TRUE(shape.empty());
  const TensorInfo* e = store->Find("empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->nbytes, 0u);
  EXPECT_EQ(e->numel(), 0);
}

TEST(SafetensorsTest, MoveKeepsMappingAlive) {
  TempDir dir;
  std::vector<float> v = {9.0f, 8.0f};
  std::string path = dir.Write("m.safetensors", Build({{"v", "F32", {2}, Bytes(v)}}));
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  SafetensorsFile moved = std::move(*f);
  const TensorInfo* t = moved.Find("v");
  ASSERT_NE(t, nullptr);
  float x[2];
  std::memcpy(x, t->data, 8);
  EXPECT_EQ(x[1], 8.0f);
  absl::StatusOr<SafetensorsFile> g = SafetensorsFile::Open(path);
  ASSERT_TRUE(g.ok());
  moved = std::move(*g);  // unmaps the first mapping, takes the second
  t = moved.Find("v");
  ASSERT_NE(t, nullptr);
  std::memcpy(x, t->data, 8);
  EXPECT_EQ(x[0], 9.0f);
  EXPECT_EQ(moved.path(), path);
}

TEST(SafetensorsTest, OtherDtypesListedButNotReadableAsFloat) {
  TempDir dir;
  std::vector<int32_t> ids = {1, 2, 3, 4};
  std::vector<int64_t> pos = {0, 1};
  std::vector<uint8_t> mask = {1, 0, 1};
  std::string path = dir.Write("i.safetensors", Build({{"ids", "I32", {4}, Bytes(ids)},
                                                      {"pos", "I64", {1, 2}, Bytes(pos)},
                                                      {"mask", "BOOL", {3}, Bytes(mask)},
                                                      {"u", "U8", {3}, Bytes(mask)}}));
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->Find("pos")->dtype, DType::kI64);
  EXPECT_EQ(store->Find("mask")->dtype, DType::kBool);
  absl::StatusOr<std::vector<float>> r = store->ReadF32("ids", {4});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("'ids' has dtype I32"));
  EXPECT_THAT(r.status().message(), HasSubstr("i.safetensors"));
}

TEST(SafetensorsTest, ShapeMismatchMessage) {
  TempDir dir;
  std::vector<float> w(64 * 192, 0.5f);
  std::string path =
      dir.Write("model.safetensors", Build({{"h.0.attn.c_attn.weight", "F32", {64, 192}, Bytes(w)}}));
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<float> out(64 * 193);
  absl::Status s = store->ReadF32("h.0.attn.c_attn.weight", {64, 193}, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("tensor 'h.0.attn.c_attn.weight' has shape [64,192], expected [64,193]"));
  EXPECT_THAT(s.message(), HasSubstr("model.safetensors"));
  // Rank differs too.
  s = store->ReadF32("h.0.attn.c_attn.weight", {64 * 192}, out.data());
  EXPECT_THAT(s.message(), HasSubstr("expected [12288]"));
  // Missing tensor.
  s = store->ReadF32("h.1.attn.c_attn.weight", {64, 192}, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'h.1.attn.c_attn.weight' is not in"));
}

TEST(SafetensorsTest, ResolveUnderPrefixes) {
  TempDir dir;
  std::vector<float> v = {1.0f};
  std::string path = dir.Write("r.safetensors", Build({{"h.0.ln_1.weight", "F32", {1}, Bytes(v)},
                                                      {"bert.pooler.dense.bias", "F32", {1},
                                                       Bytes(v)}}));
  absl::StatusOr<WeightStore> store = WeightStore::OpenFiles({path});
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<std::string> gpt = {"transformer.", ""};
  absl::StatusOr<std::string> r = store->Resolve("h.0.ln_1.weight", gpt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "h.0.ln_1.weight");
  r = store->Resolve("pooler.dense.bias", {"", "bert."});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "bert.pooler.dense.bias");
  std::vector<std::string> bert = {"", "bert."};
  absl::StatusOr<std::string> prefix = store->DetectPrefix("pooler.dense.bias", bert);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(*prefix, "bert.");
  r = store->Resolve("wte.weight", gpt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("'transformer.wte.weight', 'wte.weight'"));
  r = store->Resolve("h.0.ln_1.weight", std::span<const std::string>());
  ASSERT_TRUE(r.ok()) << r.status();
}

// ---------------------------------------------------------------------------------------------
// Malformed files.

std::string W24() { return std::string(24, '\x01'); }  // 6 floats of data

struct Bad {
  std::string label;
  std::string bytes;
  std::string want;  // substring of the message
};

std::vector<Bad> BadFiles() {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  auto one = [](const std::string& entry_body) {
    return Raw("{\"w\":" + entry_body + "}", W24());
  };
  std::string valid = Raw("{" + ok_entry + "}", W24());
  std::vector<Bad> v = {
      {"empty file", "", "file is empty"},
      {"shorter than length field", std::string("\x10\0\0", 3), "truncated: 3 bytes"},
      {"header length past EOF", valid.substr(0, 20), "runs past the end of the file"},
      {"header length huge", Raw("{}", "", uint64_t{1} << 40), "exceeds the limit"},
      {"header length all ones", Raw("{}", "", ~uint64_t{0}), "exceeds the limit"},
      {"header length zero", Raw("", "abc"), "too short"},
      {"non-JSON header", Raw("{not json at all}", ""), "invalid JSON"},
      {"truncated JSON", Raw("{\"w\":{\"dtype\":", ""), "invalid JSON"},
      {"trailing garbage", Raw("{} x", ""), "invalid JSON"},
      {"header is a list", Raw("[1,2,3]", ""), "not a JSON object"},
      {"header is a string", Raw("\"abc\"", ""), "not a JSON object"},
      {"invalid UTF-8", Raw("{\"w\xff\":1}", ""), "invalid JSON"},
      {"deep nesting", Raw("{\"__metadata__\":" + std::string(50, '[') + std::string(50, ']') +
                               "}",
                           ""),
       "nesting deeper"},
      {"entry not an object", one("5"), "tensor 'w': entry must be an object"},
      {"missing dtype", one(R"({"shape":[2,3],"data_offsets":[0,24]})"),
       "tensor 'w': missing 'dtype'"},
      {"missing shape", one(R"({"dtype":"F32","data_offsets":[0,24]})"),
       "tensor 'w': missing 'shape'"},
      {"missing data_offsets", one(R"({"dtype":"F32","shape":[2,3]})"),
       "tensor 'w': missing 'data_offsets'"},
      {"unknown dtype", one(R"({"dtype":"F33","shape":[2,3],"data_offsets":[0,24]})"),
       "tensor 'w': unknown dtype \"F33\""},
      {"lower-case dtype", one(R"({"dtype":"f32","shape":[2,3],"data_offsets":[0,24]})"),
       "unknown dtype"},
      {"dtype not a string", one(R"({"dtype":4,"shape":[2,3],"data_offsets":[0,24]})"),
       "'dtype' must be a string"},
      {"unknown key", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24],"x":1})"),
       "tensor 'w': unknown key \"x\""},
      {"shape not a list", one(R"({"dtype":"F32","shape":6,"data_offsets":[0,24]})"),
       "'shape' must be a list"},
      {"negative dim", one(R"({"dtype":"F32","shape":[-2,-3],"data_offsets":[0,24]})"),
       "tensor 'w': negative dimension"},
      {"fractional dim", one(R"({"dtype":"F32","shape":[2.5,3],"data_offsets":[0,24]})"),
       "must hold non-negative integers"},
      {"bool dim", one(R"({"dtype":"F32","shape":[true,6],"data_offsets":[0,24]})"),
       "must hold non-negative integers"},
      {"dim past int64", one(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,24]})"),
       "absurdly large"},
      {"absurd dim", one(R"({"dtype":"F32","shape":[1125899906842624],"data_offsets":[0,24]})"),
       "absurdly large"},
      {"shape product overflow",
       one(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,24]})"),
       "overflows the element count"},
      {"byte count overflow",
       one(R"({"dtype":"F64","shape":[1099511627776,4194304],"data_offsets":[0,24]})"),
       "overflows the byte count"},
      {"too many dims", one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"),
       "more than the limit"},
      {"offsets reversed", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[24,0]})"),
       "tensor 'w': data_offsets [24,0] are reversed"},
      {"offsets past end", one(R"({"dtype":"F32","shape":[4,3],"data_offsets":[0,48]})"),
       "tensor 'w': data_offsets [0,48] run past the end of the data section (24 bytes)"},
      {"offsets way past end",
       one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[18446744073709551600,18446744073709551615]})"),
       "run past the end"},
      {"offsets one element", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0]})"),
       "'data_offsets' must be [begin, end]"},
      {"offsets three elements", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,12,24]})"),
       "'data_offsets' must be [begin, end]"},
      {"offsets negative", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[-24,0]})"),
       "two non-negative integers"},
      {"offsets strings", one(R"({"dtype":"F32","shape":[2,3],"data_offsets":["0","24"]})"),
       "two non-negative integers"},
      {"size mismatch with shape", one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,24]})"),
       "tensor 'w': data_offsets [0,24] hold 24 bytes but F32 shape [2,2] needs 16"},
      {"size mismatch with dtype", one(R"({"dtype":"F16","shape":[2,3],"data_offsets":[0,24]})"),
       "F16 shape [2,3] needs 12"},
      {"overlapping tensors",
       Raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
           R"("b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}})",
           W24()),
       "tensors 'a' [0,16) and 'b' [12,24) overlap"},
      {"tensor inside another",
       Raw(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},)"
           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})",
           W24()),
       "overlap"},
      {"same range twice",
       Raw(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},)"
           R"("b":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}})",
           W24()),
       "overlap"},
      {"duplicate names",
       Raw("{" + ok_entry + "," + ok_entry + "}", W24()), "duplicate key \"w\""},
      {"duplicate field", one(R"({"dtype":"F32","dtype":"F16","shape":[2,3],"data_offsets":[0,24]})"),
       "duplicate key \"dtype\""},
      {"metadata not an object", Raw(R"({"__metadata__":[1,2]})", ""),
       "__metadata__ must be an object of string to string"},
      {"metadata value not a string", Raw(R"({"__metadata__":{"format":1}})", ""),
       "__metadata__ value for key \"format\" must be a string, got 1"},
      {"metadata nested object", Raw(R"({"__metadata__":{"a":{"b":"c"}}})", ""),
       "__metadata__ value"},
      {"empty tensor name", Raw(R"({"":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}})", W24()),
       "empty name"},
  };
  return v;
}

TEST(SafetensorsTest, MalformedFilesAreRejectedWithAReason) {
  TempDir dir;
  int i = 0;
  for (const Bad& bad : BadFiles()) {
    SCOPED_TRACE(bad.label);
    std::string path = dir.Write("bad" + std::to_string(i++) + ".safetensors", bad.bytes);
    absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok()) << "accepted: " << bad.label;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
    EXPECT_THAT(f.status().message(), HasSubstr(bad.want));
    EXPECT_THAT(f.status().message(), HasSubstr(path));  // names the file
  }
}

TEST(SafetensorsTest, MissingFileAndDirectory) {
  TempDir dir;
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(dir.path() + "/nope.safetensors");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("nope.safetensors"));
  f = SafetensorsFile::Open(dir.path());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("not a regular file"));
}

TEST(SafetensorsTest, GapsAndPaddingAreAccepted) {
  // Zero-size tensors anywhere, gaps between tensors, and a null __metadata__ are legal.
  TempDir dir;
  std::string path = dir.Write(
      "g.safetensors",
      Raw(R"({"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
          R"("z":{"dtype":"F32","shape":[0],"data_offsets":[6,6]},)"
          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[12,14]}}   )",
          std::string(16, '\0')));
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tensors().size(), 3u);
  EXPECT_TRUE(f->metadata().empty());
}

// ---------------------------------------------------------------------------------------------
// Mutations: Open must return a value (OK or an error) for every input, and when it says OK every
// tensor's bytes must be readable and consistent with its shape.

TEST(SafetensorsTest, RandomMutationsNeverCrash) {
  TempDir dir;
  std::vector<float> a(12, 1.0f);
  std::vector<uint16_t> b(8, 0x3c00);
  std::vector<int32_t> c = {1, 2, 3};
  const std::string base =
      Build({{"layer.0.a", "F32", {3, 4}, Bytes(a)},
             {"layer.0.b", "F16", {2, 4}, Bytes(b)},
             {"layer.1.c", "I32", {3}, Bytes(c)},
             {"layer.1.d", "BF16", {2, 2}, Bytes(std::vector<uint16_t>(4, 0x3f80))}},
            json{{"format", "pt"}});
  uint64_t header_len;
  std::memcpy(&header_len, base.data(), 8);

  std::mt19937_64 rng(20240611);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % std::max<size_t>(n, 1)); };
  int ok = 0, rejected = 0;
  const std::string path = dir.path() + "/fuzz.safetensors";
  for (int iter = 0; iter < 2000; ++iter) {
    std::string m = base;
    int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits; ++e) {
      switch (pick(7)) {
        case 0:  // random byte anywhere
          if (!m.empty()) m[pick(m.size())] = static_cast<char>(rng());
          break;
        case 1:  // flip a bit
          if (!m.empty()) m[pick(m.size())] ^= static_cast<char>(1 << pick(8));
          break;
        case 2: {  // change a digit inside the header (keeps the JSON valid, moves offsets/shapes)
          for (int tries = 0; tries < 64; ++tries) {
            size_t p = 8 + pick(std::min<size_t>(header_len, m.size() > 8 ? m.size() - 8 : 0));
            if (p < m.size() && m[p] >= '0' && m[p] <= '9') {
              m[p] = static_cast<char>('0' + pick(10));
              break;
            }
          }
          break;
        }
        case 3:  // truncate
          m.resize(pick(m.size() + 1));
          break;
        case 4: {  // insert random bytes
          std::string ins(1 + pick(8), '\0');
          for (char& ch : ins) ch = static_cast<char>(rng());
          m.insert(pick(m.size() + 1), ins);
          break;
        }
        case 5:  // header length field
          if (m.size() >= 8) {
            uint64_t len = pick(3) == 0 ? rng() : header_len + pick(16) - 8;
            std::memcpy(m.data(), &len, 8);
          }
          break;
        case 6:  // mutate the data only: always still valid
          if (m.size() > 8 + header_len) m[8 + header_len + pick(m.size() - 8 - header_len)] ^= 0x55;
          break;
      }
    }
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(m.data(), static_cast<std::streamsize>(m.size()));
    }
    absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
    if (!f.ok()) {
      ++rejected;
      ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
      ASSERT_FALSE(f.status().message().empty());
      continue;
    }
    ++ok;
    const uint8_t* lo = nullptr;
    const uint8_t* hi = nullptr;
    for (const TensorInfo& t : f->tensors()) {
      ASSERT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) << t.name;
      unsigned sum = 0;
      for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];  // must not fault
      (void)sum;
      if (t.nbytes > 0) {
        if (lo == nullptr || t.data < lo) lo = t.data;
        if (hi == nullptr || t.data + t.nbytes > hi) hi = t.data + t.nbytes;
      }
    }
    if (lo != nullptr) {
      ASSERT_LE(static_cast<size_t>(hi - lo), m.size());
    }
  }
  // Both outcomes happen: the loop exercises the accept path as well as every kind of reject.
  EXPECT_GT(ok, 100);
  EXPECT_GT(rejected, 500);
}

}  // namespace
}  // namespace infer::model
