// Model folders: WeightStore::Open (single file, sharded index, loose files, non-safetensors
// folders), config.json getters, sentence-transformers pooling, OpenModelFolder; first on folders
// this test writes, then on the golden model folders made by tests/golden/make_golden.py.
#include "server/model/model_folder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/model/config_json.h"
#include "server/model/pooling_config.h"
#include "server/model/weight_store.h"

namespace infer::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Writing folders.

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // stored as F32
};

std::string Safetensors(const std::vector<Spec>& specs) {
  json h = json::object();
  std::string data;
  for (const Spec& s : specs) {
    std::string bytes(reinterpret_cast<const char*>(s.values.data()), s.values.size() * 4);
    h[s.name] = {{"dtype", "F32"},
                 {"shape", s.shape},
                 {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string header = h.dump();
  while (header.size() % 8 != 0) header += ' ';
  uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "model_folder_test_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& rel, std::string_view bytes) const {
    fs::path p = fs::path(path_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
  std::string WriteJson(const std::string& rel, const json& j) const { return Write(rel, j.dump(2)); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const Spec kA{"a", {2}, {1.0f, 2.0f}};
const Spec kB{"b", {1, 3}, {3.0f, 4.0f, 5.0f}};
const Spec kC{"c", {}, {6.0f}};

json Index(const json& weight_map) {
  return {{"metadata", {{"total_size", 24}}}, {"weight_map", weight_map}};
}

// ---------------------------------------------------------------------------------------------
// WeightStore::Open

TEST(WeightStoreTest, SingleFile) {
  TempDir dir;
  dir.Write("model.safetensors", Safetensors({kA, kB}));
  dir.Write("pytorch_model.bin", "ignored when safetensors exist");
  absl::StatusOr<WeightStore> s = WeightStore::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s->size(), 2u);
  EXPECT_TRUE(s->Has("b"));
  EXPECT_FALSE(s->Has("c"));
  absl::StatusOr<std::vector<float>> b = s->ReadF32("b", {1, 3});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, kB.values);
  EXPECT_EQ(s->files().size(), 1u);
}

TEST(WeightStoreTest, ShardedIndex) {
  TempDir dir;
  dir.Write("model-00001-of-00002.safetensors", Safetensors({kA, kB}));
  dir.Write("model-00002-of-00002.safetensors", Safetensors({kC}));
  dir.WriteJson("model.safetensors.index.json",
                Index({{"a", "model-00001-of-00002.safetensors"},
                       {"b", "model-00001-of-00002.safetensors"},
                       {"c", "model-00002-of-00002.safetensors"}}));
  absl::StatusOr<WeightStore> s = WeightStore::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s->files().size(), 2u);
  EXPECT_THAT(s->FileOf("c"), HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(s->FileOf("a"), HasSubstr("model-00001-of-00002.safetensors"));
  absl::StatusOr<std::vector<float>> c = s->ReadF32("c", std::span<const int64_t>());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, kC.values);
}

struct BadFolder {
  std::string label;
  std::function<void(const TempDir&)> make;
  absl::StatusCode code;
  std::vector<std::string> want;  // substrings of the message
};

TEST(WeightStoreTest, BadFoldersAreRejectedWithAReason) {
  const std::string s1 = "model-00001-of-00002.safetensors";
  const std::string s2 = "model-00002-of-00002.safetensors";
  std::vector<BadFolder> cases = {
      {"index points to a missing shard",
       [&](const TempDir& d) {
         d.Write(s1, Safetensors({kA, kB}));
         d.WriteJson("model.safetensors.index.json", Index({{"a", s1}, {"b", s1}, {"c", s2}}));
       },
       absl::StatusCode::kNotFound,
       {"model.safetensors.index.json", "shard 'model-00002-of-00002.safetensors'", "missing",
        "'c'"}},
      {"index tensor not in its shard",
       [&](const TempDir& d) {
         d.Write(s1, Safetensors({kA}));
         d.Write(s2, Safetensors({kC}));
         d.WriteJson("model.safetensors.index.json", Index({{"a", s1}, {"b", s1}, {"c", s2}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"tensor 'b' is mapped to shard 'model-00001-of-00002.safetensors', which does not hold "
        "it"}},
      {"shard holds a tensor the index does not list",
       [&](const TempDir& d) {
         d.Write(s1, Safetensors({kA, kB}));
         d.Write(s2, Safetensors({kC}));
         d.WriteJson("model.safetensors.index.json", Index({{"a", s1}, {"c", s2}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"holds tensor 'b', which the weight_map does not list"}},
      {"shard holds a tensor the index puts elsewhere",
       [&](const TempDir& d) {
         d.Write(s1, Safetensors({kA, kC}));
         d.Write(s2, Safetensors({kC}));
         d.WriteJson("model.safetensors.index.json", Index({{"a", s1}, {"c", s2}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"holds tensor 'c', which the weight_map puts in 'model-00002-of-00002.safetensors'"}},
      {"index shard escapes the folder",
       [&](const TempDir& d) {
         d.WriteJson("model.safetensors.index.json", Index({{"a", "../x.safetensors"}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"'../x.safetensors'", "not a plain file name"}},
      {"index absolute shard path",
       [&](const TempDir& d) {
         d.WriteJson("model.safetensors.index.json", Index({{"a", "/etc/passwd"}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"'/etc/passwd'"}},
      {"index without weight_map",
       [&](const TempDir& d) { d.WriteJson("model.safetensors.index.json", {{"metadata", {}}}); },
       absl::StatusCode::kInvalidArgument,
       {"'weight_map' must be an object"}},
      {"index with an empty weight_map",
       [&](const TempDir& d) {
         d.WriteJson("model.safetensors.index.json", Index(json::object()));
       },
       absl::StatusCode::kInvalidArgument,
       {"lists no tensors"}},
      {"index weight_map value not a string",
       [&](const TempDir& d) { d.WriteJson("model.safetensors.index.json", Index({{"a", 3}})); },
       absl::StatusCode::kInvalidArgument,
       {"weight_map entry for tensor 'a' must be a file name, got 3"}},
      {"index not JSON",
       [&](const TempDir& d) { d.Write("model.safetensors.index.json", "{\"weight_map\": "); },
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors.index.json", "invalid JSON"}},
      {"bad shard",
       [&](const TempDir& d) {
         d.Write(s1, "garbage");
         d.WriteJson("model.safetensors.index.json", Index({{"a", s1}}));
       },
       absl::StatusCode::kInvalidArgument,
       {"model-00001-of-00002.safetensors", "truncated"}},
      {"same tensor in two loose files",
       [&](const TempDir& d) {
         d.Write("one.safetensors", Safetensors({kA, kB}));
         d.Write("two.safetensors", Safetensors({kB}));
       },
       absl::StatusCode::kInvalidArgument,
       {"tensor 'b' appears in both", "one.safetensors", "two.safetensors"}},
      {"only pytorch_model.bin",
       [&](const TempDir& d) {
         d.WriteJson("config.json", {{"model_type", "gpt2"}});
         d.Write("pytorch_model.bin", "PK...");
       },
       absl::StatusCode::kUnimplemented,
       {"pytorch_model.bin", "convert", "safetensors"}},
      {"no weights at all",
       [&](const TempDir& d) { d.WriteJson("config.json", {{"model_type", "gpt2"}}); },
       absl::StatusCode::kNotFound,
       {"has no weights", "model.safetensors"}},
  };
  for (const BadFolder& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    c.make(dir);
    absl::StatusOr<WeightStore> s = WeightStore::Open(dir.path());
    ASSERT_FALSE(s.ok()) << "accepted: " << c.label;
    EXPECT_EQ(s.status().code(), c.code) << s.status();
    for (const std::string& w : c.want) EXPECT_THAT(s.status().message(), HasSubstr(w));
  }
}

TEST(WeightStoreTest, LooseFilesAndMissingFolder) {
  TempDir dir;
  dir.Write("one.safetensors", Safetensors({kA}));
  dir.Write("two.safetensors", Safetensors({kB, kC}));
  dir.Write("notes.txt", "not weights");
  absl::StatusOr<WeightStore> s = WeightStore::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s->files().size(), 2u);

  absl::StatusOr<WeightStore> missing = WeightStore::Open(dir.path() + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("does not exist"));
  absl::StatusOr<WeightStore> file = WeightStore::Open(dir.path() + "/notes.txt");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("not a directory"));

  WeightStore empty;
  EXPECT_FALSE(empty.Has("a"));
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.ReadF32("a", {2}).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// config.json getters

TEST(ConfigJsonTest, TypedGetters) {
  json cfg = json::parse(R"({"n_layer": 12, "n_head": "abc", "n_embd": 768.0, "neg": -3,
      "zero": 0, "eps": 1e-5, "act": "gelu_new", "flag": true, "flag_str": "true",
      "nul": null, "big": 4294967296, "frac": 2.5,
      "id2label": {"0": "NEG", "1": "POS", "10": "TEN"},
      "bad_ids": {"x": "X"}, "lead0": {"01": "A"}, "bad_label": {"0": 5},
      "label2id": {"NEG": 0, "POS": 1}, "archs": ["GPT2LMHeadModel"], "archs_bad": [1]})");
  EXPECT_EQ(*GetInt(cfg, "n_layer", 1), 12);
  EXPECT_EQ(*GetInt(cfg, "absent", 7), 7);
  EXPECT_EQ(*GetInt(cfg, "nul", 7), 7);
  EXPECT_EQ(*GetInt(cfg, "n_embd", 1), 768);  // integral float accepted
  EXPECT_EQ(*GetInt(cfg, "neg", 0), -3);

  absl::StatusOr<int64_t> bad = GetPositiveInt(cfg, "n_head", 12);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "config.json: 'n_head' must be a positive integer, got \"abc\"");
  EXPECT_THAT(GetPositiveInt(cfg, "neg", 1).status().message(), HasSubstr("got -3"));
  EXPECT_THAT(GetPositiveInt(cfg, "zero", 1).status().message(), HasSubstr("got 0"));
  EXPECT_THAT(GetPositiveInt(cfg, "big", 1).status().message(), HasSubstr("got 4294967296"));
  EXPECT_THAT(GetInt(cfg, "frac", 1).status().message(),
              HasSubstr("'frac' must be an integer, got 2.5"));
  EXPECT_THAT(GetInt(cfg, "flag", 1).status().message(), HasSubstr("got true"));
  EXPECT_THAT(RequireInt(cfg, "n_inner", "gpt2/config.json").status().message(),
              HasSubstr("gpt2/config.json: missing required field 'n_inner'"));

  EXPECT_DOUBLE_EQ(*GetFloat(cfg, "eps", 0.1), 1e-5);
  EXPECT_DOUBLE_EQ(*GetFloat(cfg, "n_layer", 0.1), 12.0);
  EXPECT_DOUBLE_EQ(*GetFloat(cfg, "absent", 0.25), 0.25);
  EXPECT_THAT(GetFloat(cfg, "act", 0).status().message(), HasSubstr("'act' must be a number"));

  EXPECT_EQ(*GetString(cfg, "act", "gelu"), "gelu_new");
  EXPECT_EQ(*GetString(cfg, "absent", "gelu"), "gelu");
  EXPECT_THAT(GetString(cfg, "n_layer", "").status().message(),
              HasSubstr("'n_layer' must be a string, got 12"));
  EXPECT_THAT(RequireString(cfg, "model_type").status().message(),
              HasSubstr("missing required field 'model_type'"));

  EXPECT_TRUE(*GetBool(cfg, "flag", false));
  EXPECT_FALSE(*GetBool(cfg, "absent", false));
  EXPECT_THAT(GetBool(cfg, "flag_str", false).status().message(),
              HasSubstr("'flag_str' must be true or false, got \"true\""));

  absl::StatusOr<std::map<int64_t, std::string>> labels = GetIntMap(cfg, "id2label");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->size(), 3u);
  EXPECT_EQ(labels->at(10), "TEN");
  EXPECT_TRUE(GetIntMap(cfg, "absent")->empty());
  EXPECT_THAT(GetIntMap(cfg, "bad_ids").status().message(),
              HasSubstr("'bad_ids' key \"x\" is not a non-negative integer"));
  EXPECT_THAT(GetIntMap(cfg, "lead0").status().message(), HasSubstr("\"01\""));
  EXPECT_THAT(GetIntMap(cfg, "bad_label").status().message(),
              HasSubstr("'bad_label' entry \"0\" must be a string, got 5"));
  EXPECT_THAT(GetIntMap(cfg, "act").status().message(), HasSubstr("'act' must be an object"));
  absl::StatusOr<std::map<std::string, int64_t>> l2i = GetStringToIntMap(cfg, "label2id");
  ASSERT_TRUE(l2i.ok());
  EXPECT_EQ(l2i->at("POS"), 1);
  EXPECT_FALSE(GetStringToIntMap(cfg, "id2label").ok());

  EXPECT_EQ(*GetStringList(cfg, "archs"), (std::vector<std::string>{"GPT2LMHeadModel"}));
  EXPECT_THAT(GetStringList(cfg, "archs_bad").status().message(),
              HasSubstr("'archs_bad' must be a list of strings"));

  EXPECT_EQ(FirstPresentKey(cfg, {"hidden_size", "n_embd"}), "n_embd");
  EXPECT_EQ(FirstPresentKey(cfg, {"hidden_size", "nul"}), std::nullopt);

  // Not an object.
  EXPECT_THAT(GetInt(json::array(), "x", 1).status().message(),
              HasSubstr("expected a JSON object, got array"));
}

TEST(ConfigJsonTest, ParsingErrors) {
  TempDir dir;
  std::string p = dir.Write("config.json", "{\n  \"a\": 1,\n  \"b\": ]\n}");
  absl::StatusOr<json> j = LoadJsonFile(p);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr(p));
  EXPECT_THAT(j.status().message(), HasSubstr("line 3, column"));

  p = dir.Write("dup.json", R"({"a": 1, "b": {"c": 1, "c": 2}})");
  EXPECT_THAT(LoadJsonFile(p).status().message(), HasSubstr("duplicate key \"c\""));
  // The same key in sibling objects is fine.
  p = dir.Write("siblings.json", R"({"a": {"c": 1}, "b": {"c": 2}})");
  EXPECT_TRUE(LoadJsonFile(p).ok());

  p = dir.Write("deep.json", std::string(1000, '[') + std::string(1000, ']'));
  EXPECT_THAT(LoadJsonFile(p).status().message(), HasSubstr("nesting deeper than"));

  p = dir.Write("big.json", "[" + std::string(2000, ' ') + "]");
  JsonLimits small;
  small.max_bytes = 1000;
  absl::StatusOr<json> big = LoadJsonFile(p, small);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("exceeds the limit of 1000"));

  absl::StatusOr<json> none = LoadJsonFile(dir.path() + "/none.json");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("none.json"));

  absl::StatusOr<json> empty = ParseJson("", "empty.json");
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.json: invalid JSON"));
}

// ---------------------------------------------------------------------------------------------
// Pooling

json Modules(bool normalize, const std::string& extra_type = "") {
  json m = json::array();
  m.push_back({{"idx", 0}, {"name", "0"}, {"path", ""},
               {"type", "sentence_transformers.models.Transformer"}});
  m.push_back({{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"},
               {"type", "sentence_transformers.models.Pooling"}});
  if (normalize) {
    m.push_back({{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"},
                 {"type", "sentence_transformers.models.Normalize"}});
  }
  if (!extra_type.empty()) {
    m.push_back({{"idx", 3}, {"name", "3"}, {"path", "3_X"}, {"type", extra_type}});
  }
  return m;
}

json PoolingJson(const std::string& on_key, int dim = 64) {
  json p = {{"word_embedding_dimension", dim},
            {"pooling_mode_cls_token", false},
            {"pooling_mode_mean_tokens", false},
            {"pooling_mode_max_tokens", false},
            {"pooling_mode_mean_sqrt_len_tokens", false},
            {"pooling_mode_weightedmean_tokens", false},
            {"pooling_mode_lasttoken", false},
            {"include_prompt", true}};
  if (!on_key.empty()) p[on_key] = true;
  return p;
}

TEST(PoolingConfigTest, AbsentModulesJsonIsNullopt) {
  TempDir dir;
  absl::StatusOr<std::optional<PoolingConfig>> p = ReadPoolingConfig(dir.path());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
}

TEST(PoolingConfigTest, MeanNormalizeWithSentenceBertConfig) {
  TempDir dir;
  dir.WriteJson("modules.json", Modules(true));
  dir.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_mean_tokens", 384));
  dir.WriteJson("sentence_bert_config.json", {{"max_seq_length", 256}, {"do_lower_case", true}});
  absl::StatusOr<std::optional<PoolingConfig>> p = ReadPoolingConfig(dir.path());
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  const PoolingConfig& c = **p;
  EXPECT_EQ(c.mode, PoolingMode::kMean);
  EXPECT_TRUE(c.normalize);
  EXPECT_EQ(c.max_seq_length, 256);
  EXPECT_EQ(c.do_lower_case, true);
  EXPECT_EQ(c.dimension, 384);
}

TEST(PoolingConfigTest, EveryModeMaps) {
  const std::pair<const char*, PoolingMode> modes[] = {
      {"pooling_mode_cls_token", PoolingMode::kCls},
      {"pooling_mode_mean_tokens", PoolingMode::kMean},
      {"pooling_mode_max_tokens", PoolingMode::kMax},
      {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
      {"pooling_mode_lasttoken", PoolingMode::kLastToken},
      {"pooling_mode_weightedmean_tokens", PoolingMode::kWeightedMean},
  };
  for (const auto& [key, mode] : modes) {
    SCOPED_TRACE(key);
    TempDir dir;
    dir.WriteJson("modules.json", Modules(false));
    dir.WriteJson("1_Pooling/config.json", PoolingJson(key));
    absl::StatusOr<std::optional<PoolingConfig>> p = ReadPoolingConfig(dir.path());
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ((*p)->mode, mode);
    EXPECT_FALSE((*p)->normalize);
    EXPECT_FALSE((*p)->max_seq_length.has_value());
    EXPECT_FALSE(PoolingModeName(mode).empty());
  }
}

TEST(PoolingConfigTest, BadPoolingFolders) {
  struct Case {
    std::string label;
    std::function<void(const TempDir&)> make;
    absl::StatusCode code;
    std::string want;
  };
  std::vector<Case> cases = {
      {"two modes",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(true));
         json p = PoolingJson("pooling_mode_mean_tokens");
         p["pooling_mode_max_tokens"] = true;
         d.WriteJson("1_Pooling/config.json", p);
       },
       absl::StatusCode::kUnimplemented, "several pooling modes at once"},
      {"no mode",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(true));
         d.WriteJson("1_Pooling/config.json", PoolingJson(""));
       },
       absl::StatusCode::kInvalidArgument, "no pooling mode is enabled"},
      {"mode not a bool",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(true));
         json p = PoolingJson("");
         p["pooling_mode_cls_token"] = "yes";
         d.WriteJson("1_Pooling/config.json", p);
       },
       absl::StatusCode::kInvalidArgument, "'pooling_mode_cls_token' must be true or false"},
      {"dense module",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(false, "sentence_transformers.models.Dense"));
         d.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_mean_tokens"));
       },
       absl::StatusCode::kUnimplemented, "\"sentence_transformers.models.Dense\" is not supported"},
      {"no pooling module",
       [](const TempDir& d) {
         json m = json::array();
         m.push_back({{"idx", 0}, {"name", "0"}, {"path", ""},
                      {"type", "sentence_transformers.models.Transformer"}});
         d.WriteJson("modules.json", m);
       },
       absl::StatusCode::kInvalidArgument, "no sentence_transformers.models.Pooling module"},
      {"pooling config missing",
       [](const TempDir& d) { d.WriteJson("modules.json", Modules(true)); },
       absl::StatusCode::kNotFound, "1_Pooling/config.json"},
      {"modules.json not a list",
       [](const TempDir& d) { d.WriteJson("modules.json", {{"idx", 0}}); },
       absl::StatusCode::kInvalidArgument, "expected a list of modules"},
      {"module without type",
       [](const TempDir& d) {
         d.WriteJson("modules.json", json::array({{{"idx", 0}, {"name", "0"}, {"path", ""}}}));
       },
       absl::StatusCode::kInvalidArgument, "module #0: missing required field 'type'"},
      {"duplicate idx",
       [](const TempDir& d) {
         json m = Modules(false);
         m[1]["idx"] = 0;
         d.WriteJson("modules.json", m);
       },
       absl::StatusCode::kInvalidArgument, "'idx' 0 is used by another module"},
      {"module path escapes the folder",
       [](const TempDir& d) {
         json m = Modules(false);
         m[1]["path"] = "../../etc";
         d.WriteJson("modules.json", m);
       },
       absl::StatusCode::kInvalidArgument, "leaves the model folder"},
      {"missing dimension",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(true));
         json p = PoolingJson("pooling_mode_mean_tokens");
         p.erase("word_embedding_dimension");
         d.WriteJson("1_Pooling/config.json", p);
       },
       absl::StatusCode::kInvalidArgument, "missing required field 'word_embedding_dimension'"},
      {"bad max_seq_length",
       [](const TempDir& d) {
         d.WriteJson("modules.json", Modules(true));
         d.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_cls_token"));
         d.WriteJson("sentence_bert_config.json", {{"max_seq_length", "long"}});
       },
       absl::StatusCode::kInvalidArgument,
       "sentence_bert_config.json: 'max_seq_length' must be a positive integer, got \"long\""},
      {"bad modules JSON",
       [](const TempDir& d) { d.Write("modules.json", "[{]"); },
       absl::StatusCode::kInvalidArgument, "modules.json: invalid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    c.make(dir);
    absl::StatusOr<std::optional<PoolingConfig>> p = ReadPoolingConfig(dir.path());
    ASSERT_FALSE(p.ok()) << "accepted: " << c.label;
    EXPECT_EQ(p.status().code(), c.code) << p.status();
    EXPECT_THAT(p.status().message(), HasSubstr(c.want));
  }
}

// ---------------------------------------------------------------------------------------------
// OpenModelFolder on written folders

TEST(ModelFolderTest, OpensAWrittenFolder) {
  TempDir dir;
  dir.WriteJson("config.json", {{"model_type", "bert"},
                                {"architectures", {"BertModel"}},
                                {"hidden_size", 64}});
  dir.WriteJson("generation_config.json", {{"max_length", 20}});
  dir.WriteJson("modules.json", Modules(true));
  dir.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_cls_token", 64));
  dir.Write("model.safetensors", Safetensors({kA}));
  absl::StatusOr<ModelFolder> f = OpenModelFolder(dir.path());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->path, dir.path());
  EXPECT_EQ(f->model_type, "bert");
  EXPECT_EQ(f->architectures, (std::vector<std::string>{"BertModel"}));
  ASSERT_TRUE(f->generation_config.has_value());
  EXPECT_EQ((*f->generation_config)["max_length"], 20);
  ASSERT_TRUE(f->pooling.has_value());
  EXPECT_EQ(f->pooling->mode, PoolingMode::kCls);
  EXPECT_TRUE(f->weights.Has("a"));
  EXPECT_EQ(ConfigHiddenSize(f->config), 64);
}

TEST(ModelFolderTest, FolderErrors) {
  TempDir dir;
  absl::StatusOr<ModelFolder> f = OpenModelFolder(dir.path() + "/missing");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("does not exist"));

  f = OpenModelFolder(dir.path());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("has no config.json"));

  dir.Write("config.json", "{\"model_type\": \"gpt2\",\n \"n_embd\": }");
  f = OpenModelFolder(dir.path());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("config.json: invalid JSON"));
  EXPECT_THAT(f.status().message(), HasSubstr("line 2"));

  dir.Write("config.json", "[1]");
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(), HasSubstr("expected a JSON object"));

  dir.WriteJson("config.json", {{"model_type", 3}});
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(),
              HasSubstr("'model_type' must be a string, got 3"));

  dir.WriteJson("config.json", {{"model_type", "gpt2"}, {"architectures", "GPT2LMHeadModel"}});
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(),
              HasSubstr("'architectures' must be a list of strings"));

  dir.WriteJson("config.json", {{"model_type", "gpt2"}, {"n_embd", "abc"}});
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(),
              HasSubstr("'n_embd' must be a positive integer, got \"abc\""));

  dir.WriteJson("config.json", {{"model_type", "gpt2"}, {"n_embd", 64}});
  dir.Write("generation_config.json", "not json");
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(),
              HasSubstr("generation_config.json: invalid JSON"));
  fs::remove(fs::path(dir.path()) / "generation_config.json");

  // Pooling dimension must match the hidden size.
  dir.WriteJson("modules.json", Modules(false));
  dir.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_mean_tokens", 32));
  EXPECT_THAT(OpenModelFolder(dir.path()).status().message(),
              HasSubstr("word_embedding_dimension 32 does not match the hidden size 64"));
  dir.WriteJson("1_Pooling/config.json", PoolingJson("pooling_mode_mean_tokens", 64));

  // Everything fine but the weights.
  dir.Write("pytorch_model.bin", "x");
  EXPECT_EQ(OpenModelFolder(dir.path()).status().code(), absl::StatusCode::kUnimplemented);
  dir.Write("model.safetensors", Safetensors({kA}));
  EXPECT_TRUE(OpenModelFolder(dir.path()).ok());
}

// ---------------------------------------------------------------------------------------------
// The golden model folders (tests/golden/make_golden.py): names and shapes follow config.json.

using Shapes = std::map<std::string, std::vector<int64_t>>;

std::string GoldenModel(const std::string& name) {
  return std::string(INFER_GOLDEN_DIR) + "/models/" + name;
}

int64_t Cfg(const json& cfg, const char* key) {
  absl::StatusOr<int64_t> v = RequirePositiveInt(cfg, key);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : 0;
}

// Every expected tensor reads as float32 with its shape and finite values, and the store holds
// exactly these names.
void ExpectExactly(const WeightStore& store, const Shapes& want) {
  std::vector<std::string> names;
  for (const auto& [name, shape] : want) {
    names.push_back(name);
    absl::StatusOr<std::vector<float>> v = store.ReadF32(name, shape);
    ASSERT_TRUE(v.ok()) << v.status();
    for (float x : *v) ASSERT_TRUE(std::isfinite(x)) << name;
  }
  EXPECT_EQ(store.Names(), names);
}

Shapes Gpt2Shapes(const json& cfg, const std::string& prefix) {
  const int64_t C = Cfg(cfg, "n_embd"), L = Cfg(cfg, "n_layer"), V = Cfg(cfg, "vocab_size"),
                P = Cfg(cfg, "n_positions");
  const int64_t inner = *GetPositiveInt(cfg, "n_inner", 4 * C);
  Shapes s = {{prefix + "wte.weight", {V, C}},
              {prefix + "wpe.weight", {P, C}},
              {prefix + "ln_f.weight", {C}},
              {prefix + "ln_f.bias", {C}}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string h = prefix + "h." + std::to_string(l) + ".";
    s[h + "ln_1.weight"] = {C};
    s[h + "ln_1.bias"] = {C};
    s[h + "attn.c_attn.weight"] = {C, 3 * C};  // Conv1D: [in, out]
    s[h + "attn.c_attn.bias"] = {3 * C};
    s[h + "attn.c_proj.weight"] = {C, C};
    s[h + "attn.c_proj.bias"] = {C};
    s[h + "ln_2.weight"] = {C};
    s[h + "ln_2.bias"] = {C};
    s[h + "mlp.c_fc.weight"] = {C, inner};
    s[h + "mlp.c_fc.bias"] = {inner};
    s[h + "mlp.c_proj.weight"] = {inner, C};
    s[h + "mlp.c_proj.bias"] = {C};
  }
  return s;
}

// BERT and RoBERTa share the encoder layout.
Shapes BertShapes(const json& cfg, const std::string& prefix) {
  const int64_t H = Cfg(cfg, "hidden_size"), L = Cfg(cfg, "num_hidden_layers"),
                I = Cfg(cfg, "intermediate_size"), V = Cfg(cfg, "vocab_size"),
                P = Cfg(cfg, "max_position_embeddings"), T = Cfg(cfg, "type_vocab_size");
  const std::string e = prefix + "embeddings.";
  Shapes s = {{e + "word_embeddings.weight", {V, H}},
              {e + "position_embeddings.weight", {P, H}},
              {e + "token_type_embeddings.weight", {T, H}},
              {e + "LayerNorm.weight", {H}},
              {e + "LayerNorm.bias", {H}}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = prefix + "encoder.layer." + std::to_string(l) + ".";
    for (const char* qkv : {"query", "key", "value"}) {
      s[b + "attention.self." + qkv + ".weight"] = {H, H};
      s[b + "attention.self." + qkv + ".bias"] = {H};
    }
    s[b + "attention.output.dense.weight"] = {H, H};
    s[b + "attention.output.dense.bias"] = {H};
    s[b + "attention.output.LayerNorm.weight"] = {H};
    s[b + "attention.output.LayerNorm.bias"] = {H};
    s[b + "intermediate.dense.weight"] = {I, H};
    s[b + "intermediate.dense.bias"] = {I};
    s[b + "output.dense.weight"] = {H, I};
    s[b + "output.dense.bias"] = {H};
    s[b + "output.LayerNorm.weight"] = {H};
    s[b + "output.LayerNorm.bias"] = {H};
  }
  return s;
}

absl::StatusOr<ModelFolder> OpenGolden(const std::string& name) {
  return OpenModelFolder(GoldenModel(name));
}

TEST(GoldenFoldersTest, Gpt2Variants) {
  absl::StatusOr<ModelFolder> ref = OpenGolden("gpt2");
  ASSERT_TRUE(ref.ok()) << ref.status();
  const std::vector<std::string> prefixes = {"transformer.", ""};
  const std::pair<const char*, DType> variants[] = {{"gpt2", DType::kF32},
                                                    {"gpt2-sharded", DType::kF32},
                                                    {"gpt2-bf16", DType::kBF16},
                                                    {"gpt2-f16", DType::kF16}};
  for (const auto& [name, dtype] : variants) {
    SCOPED_TRACE(name);
    absl::StatusOr<ModelFolder> f = OpenGolden(name);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->model_type, "gpt2");
    EXPECT_THAT(f->architectures, ::testing::Contains("GPT2LMHeadModel"));
    EXPECT_TRUE(f->generation_config.has_value());
    EXPECT_FALSE(f->pooling.has_value());
    absl::StatusOr<std::string> prefix = f->weights.DetectPrefix("wte.weight", prefixes);
    ASSERT_TRUE(prefix.ok()) << prefix.status();
    EXPECT_EQ(*prefix, "transformer.");
    ExpectExactly(f->weights, Gpt2Shapes(f->config, *prefix));
    for (const std::string& n : f->weights.Names()) {
      EXPECT_EQ(f->weights.Find(n)->dtype, dtype) << n;
    }
    EXPECT_EQ(f->weights.PrimaryFloatDType(), dtype);

    // Against the float32 folder: identical (f32, sharded), round-to-nearest-even (bf16), within
    // half an f16 ulp (f16).
    int64_t differ = 0;
    for (const std::string& n : ref->weights.Names()) {
      std::vector<int64_t> shape;
      absl::StatusOr<std::vector<float>> want = ref->weights.ReadAnyF32(n, &shape);
      absl::StatusOr<std::vector<float>> got = f->weights.ReadF32(n, shape);
      ASSERT_TRUE(want.ok() && got.ok()) << n;
      for (size_t i = 0; i < want->size(); ++i) {
        const float w = (*want)[i], g = (*got)[i];
        differ += (w != g);
        if (dtype == DType::kF32) {
          ASSERT_EQ(std::bit_cast<uint32_t>(g), std::bit_cast<uint32_t>(w)) << n << "[" << i << "]";
        } else if (dtype == DType::kBF16) {
          const uint32_t bits = std::bit_cast<uint32_t>(w);
          const uint32_t rne = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
          ASSERT_EQ(std::bit_cast<uint32_t>(g), rne) << n << "[" << i << "] " << w << " " << g;
        } else {
          ASSERT_LE(std::fabs(g - w), std::fabs(w) * std::ldexp(1.0f, -11) + std::ldexp(1.0f, -25))
              << n << "[" << i << "] " << w << " " << g;
        }
      }
    }
    if (dtype == DType::kF32) {
      EXPECT_EQ(differ, 0);
    } else {
      EXPECT_GT(differ, 0);  // the 16-bit folders really are rounded
    }
  }
}

TEST(GoldenFoldersTest, Gpt2ShardedUsesTheIndex) {
  absl::StatusOr<WeightStore> s = WeightStore::Open(GoldenModel("gpt2-sharded"));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<json> index =
      LoadJsonFile(GoldenModel("gpt2-sharded") + "/model.safetensors.index.json");
  ASSERT_TRUE(index.ok()) << index.status();
  std::set<std::string> shards;
  for (auto it = (*index)["weight_map"].begin(); it != (*index)["weight_map"].end(); ++it) {
    shards.insert(it.value().get<std::string>());
    EXPECT_THAT(s->FileOf(it.key()), ::testing::EndsWith("/" + it.value().get<std::string>()));
  }
  EXPECT_GT(shards.size(), 1u);
  EXPECT_EQ(s->files().size(), shards.size());
  EXPECT_EQ(s->size(), (*index)["weight_map"].size());
}

TEST(GoldenFoldersTest, BertClassifier) {
  absl::StatusOr<ModelFolder> f = OpenGolden("bert");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->model_type, "bert");
  EXPECT_THAT(f->architectures, ::testing::ElementsAre("BertForSequenceClassification"));
  EXPECT_FALSE(f->pooling.has_value());
  std::vector<std::string> prefixes = {"bert.", ""};
  absl::StatusOr<std::string> prefix =
      f->weights.DetectPrefix("embeddings.word_embeddings.weight", prefixes);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, "bert.");
  absl::StatusOr<std::map<int64_t, std::string>> labels = GetIntMap(f->config, "id2label");
  ASSERT_TRUE(labels.ok()) << labels.status();
  ASSERT_EQ(labels->size(), 3u);
  EXPECT_EQ(labels->at(0), "contradiction");
  EXPECT_EQ(labels->at(2), "entailment");
  const int64_t H = Cfg(f->config, "hidden_size"), N = static_cast<int64_t>(labels->size());
  Shapes want = BertShapes(f->config, *prefix);
  want["bert.pooler.dense.weight"] = {H, H};
  want["bert.pooler.dense.bias"] = {H};
  want["classifier.weight"] = {N, H};
  want["classifier.bias"] = {N};
  ExpectExactly(f->weights, want);
}

TEST(GoldenFoldersTest, BertEmbedWithPooling) {
  absl::StatusOr<ModelFolder> f = OpenGolden("bert-embed");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->model_type, "bert");
  EXPECT_THAT(f->architectures, ::testing::ElementsAre("BertModel"));
  // A bare BertModel checkpoint: no "bert." prefix.
  std::vector<std::string> prefixes = {"bert.", ""};
  absl::StatusOr<std::string> prefix =
      f->weights.DetectPrefix("embeddings.word_embeddings.weight", prefixes);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, "");
  const int64_t H = Cfg(f->config, "hidden_size");
  Shapes want = BertShapes(f->config, *prefix);
  want["pooler.dense.weight"] = {H, H};
  want["pooler.dense.bias"] = {H};
  ExpectExactly(f->weights, want);

  ASSERT_TRUE(f->pooling.has_value());
  EXPECT_EQ(f->pooling->mode, PoolingMode::kMean);
  EXPECT_TRUE(f->pooling->normalize);
  EXPECT_EQ(f->pooling->dimension, H);
  EXPECT_EQ(f->pooling->max_seq_length, Cfg(f->config, "max_position_embeddings"));
  EXPECT_EQ(f->pooling->do_lower_case, false);
}

TEST(GoldenFoldersTest, RobertaClassifier) {
  absl::StatusOr<ModelFolder> f = OpenGolden("roberta");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->model_type, "roberta");
  EXPECT_THAT(f->architectures, ::testing::ElementsAre("RobertaForSequenceClassification"));
  std::vector<std::string> prefixes = {"roberta.", ""};
  absl::StatusOr<std::string> prefix =
      f->weights.DetectPrefix("embeddings.word_embeddings.weight", prefixes);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, "roberta.");
  absl::StatusOr<std::map<int64_t, std::string>> labels = GetIntMap(f->config, "id2label");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->at(1), "positive");
  const int64_t H = Cfg(f->config, "hidden_size"), N = static_cast<int64_t>(labels->size());
  Shapes want = BertShapes(f->config, *prefix);
  want["classifier.dense.weight"] = {H, H};
  want["classifier.dense.bias"] = {H};
  want["classifier.out_proj.weight"] = {N, H};
  want["classifier.out_proj.bias"] = {N};
  ExpectExactly(f->weights, want);
}

TEST(GoldenFoldersTest, DistilBertClassifier) {
  absl::StatusOr<ModelFolder> f = OpenGolden("distilbert");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->model_type, "distilbert");
  EXPECT_THAT(f->architectures, ::testing::ElementsAre("DistilBertForSequenceClassification"));
  EXPECT_EQ(*GetString(f->config, "problem_type", ""), "multi_label_classification");
  absl::StatusOr<std::map<int64_t, std::string>> labels = GetIntMap(f->config, "id2label");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->size(), 4u);
  EXPECT_EQ(labels->at(3), "legal");
  EXPECT_EQ(ConfigHiddenSize(f->config), Cfg(f->config, "dim"));
  const int64_t H = Cfg(f->config, "dim"), L = Cfg(f->config, "n_layers"),
                I = Cfg(f->config, "hidden_dim"), V = Cfg(f->config, "vocab_size"),
                P = Cfg(f->config, "max_position_embeddings"),
                N = static_cast<int64_t>(labels->size());
  const std::string e = "distilbert.embeddings.";
  Shapes want = {{e + "word_embeddings.weight", {V, H}},
                 {e + "position_embeddings.weight", {P, H}},
                 {e + "LayerNorm.weight", {H}},
                 {e + "LayerNorm.bias", {H}},
                 {"pre_classifier.weight", {H, H}},
                 {"pre_classifier.bias", {H}},
                 {"classifier.weight", {N, H}},
                 {"classifier.bias", {N}}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = "distilbert.transformer.layer." + std::to_string(l) + ".";
    for (const char* lin : {"q_lin", "k_lin", "v_lin", "out_lin"}) {
      want[b + "attention." + lin + ".weight"] = {H, H};
      want[b + "attention." + lin + ".bias"] = {H};
    }
    want[b + "sa_layer_norm.weight"] = {H};
    want[b + "sa_layer_norm.bias"] = {H};
    want[b + "ffn.lin1.weight"] = {I, H};
    want[b + "ffn.lin1.bias"] = {I};
    want[b + "ffn.lin2.weight"] = {H, I};
    want[b + "ffn.lin2.bias"] = {H};
    want[b + "output_layer_norm.weight"] = {H};
    want[b + "output_layer_norm.bias"] = {H};
  }
  ExpectExactly(f->weights, want);
}

}  // namespace
}  // namespace infer::model
