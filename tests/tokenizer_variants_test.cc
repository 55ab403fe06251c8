// Parity with HF `tokenizers` for the options the released GPT-2 / RoBERTa / BERT files do not
// exercise (add_prefix_space with offset trimming, templates, NFD + Lowercase, cased BERT,
// added tokens with lstrip / rstrip / single_word / normalized, max_input_chars_per_word).
// Data: server/tokenizer/testing/variant_cases.json from server/tokenizer/gen/make_variant_cases.py.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/testing/test_folders.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kCasesFile =
    fs::path(INFER_GOLDEN_DIR) / ".." / ".." / ".." / "server" / "tokenizer" / "testing" / "variant_cases.json";

const json& Variants() {
  static const json data = [] {
    std::ifstream in(kCasesFile);
    if (!in) return json::object();
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
  }();
  return data;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<size_t> CharToByte(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  }
  out.push_back(s.size());
  return out;
}

class TokenizerVariants : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVariants, MatchesHuggingFace) {
  const json& variant = Variants()["variants"][GetParam()];
  testing::TempDir dir;
  dir.WriteJson("tokenizer.json", variant["tokenizer_json"]);
  auto loaded = Tokenizer::LoadFromFolder(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tok = **loaded;
  size_t checked = 0;
  for (const json& c : variant["cases"]) {
    const std::string a = FromHex(c["a_hex"].get<std::string>());
    const bool pair = c.contains("b");
    const std::string b = pair ? c["b"].get<std::string>() : "";
    const bool add = c["add_special_tokens"].get<bool>();
    SCOPED_TRACE(json(SanitizeUtf8(a)).dump() + (pair ? " / " + json(b).dump() : "") + (add ? " +special" : ""));
    const Encoding e = pair ? tok.EncodePair(a, b, add) : tok.Encode(a, add);
    const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(e.ids, ids);
    EXPECT_EQ(e.type_ids, c["type_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(e.sequence_ids, c["sequence_ids"].get<std::vector<int32_t>>());
    const std::vector<size_t> ca = CharToByte(SanitizeUtf8(a)), cb = CharToByte(b);
    std::vector<std::pair<size_t, size_t>> want;
    for (size_t i = 0; i < c["offsets"].size(); ++i) {
      const auto& conv = c["sequence_ids"][i].get<int>() == 1 ? cb : ca;
      want.emplace_back(conv.at(c["offsets"][i][0].get<size_t>()), conv.at(c["offsets"][i][1].get<size_t>()));
    }
    EXPECT_EQ(e.offsets, want);
    EXPECT_EQ(tok.Decode(ids), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.Decode(ids, /*skip_special_tokens=*/true), c["decoded_skip_special"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 100u);
}

std::vector<std::string> VariantNames() {
  std::vector<std::string> names;
  if (Variants().contains("variants")) {
    for (const auto& [k, v] : Variants()["variants"].items()) names.push_back(k);
  }
  return names;
}

TEST(TokenizerVariantsData, Present) {
  ASSERT_TRUE(fs::exists(kCasesFile)) << kCasesFile;
  EXPECT_GE(VariantNames().size(), 9u);
}

INSTANTIATE_TEST_SUITE_P(Hf, TokenizerVariants, ::testing::ValuesIn(VariantNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace infer::tokenizer
