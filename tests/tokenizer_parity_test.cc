// Parity with Hugging Face on tests/golden/data/tokenizer_cases.json (made by
// tests/golden/make_golden.py with pinned tokenizers/transformers): for EVERY case of every
// tokenizer, ids (with and without special tokens), offsets, type ids, decoded text, pairs and
// truncation must be identical. Each tokenizer folder is loaded twice: from tokenizer.json and,
// from a temporary copy without it, from the legacy vocabulary files.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/tokenizer.h"

namespace infer::tokenizer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kGolden = INFER_GOLDEN_DIR;

json LoadCases() {
  std::ifstream in(kGolden / "tokenizer_cases.json");
  EXPECT_TRUE(in.good()) << "missing " << (kGolden / "tokenizer_cases.json");
  if (!in) return json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

const json& Cases() {
  static const json cases = LoadCases();
  return cases;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Byte offset of every code point of valid UTF-8 `s`, plus s.size() at the end: converts HF's
// character offsets to our byte offsets.
std::vector<size_t> CharToByte(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  }
  out.push_back(s.size());
  return out;
}

// HF offsets (code points of the replaced text(s)) as bytes. `seq` says which text each token
// belongs to (-1: added special token, offsets (0, 0)).
std::vector<std::pair<size_t, size_t>> ExpectedOffsets(const json& offsets,
                                                       const std::vector<int32_t>& seq,
                                                       const std::string& a, const std::string& b) {
  const std::vector<size_t> ca = CharToByte(a), cb = CharToByte(b);
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < offsets.size(); ++i) {
    const size_t s = offsets[i][0].get<size_t>(), e = offsets[i][1].get<size_t>();
    const std::vector<size_t>& c = (i < seq.size() && seq[i] == 1) ? cb : ca;
    if (s >= c.size() || e >= c.size()) {
      out.emplace_back(SIZE_MAX, SIZE_MAX);  // cannot be right
      continue;
    }
    out.emplace_back(c[s], c[e]);
  }
  return out;
}

std::vector<int32_t> Ints(const json& j) { return j.get<std::vector<int32_t>>(); }

std::string Describe(const std::string& text) {
  std::string out = "\"" + text + "\" [";
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out + "]";
}

// A copy of `folder` without tokenizer.json, so that the legacy files are used.
fs::path LegacyCopy(const fs::path& folder, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tokenizer_parity_legacy_" + name + "_" +
                                                    std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string fname = entry.path().filename().string();
    if (fname == "tokenizer.json" || fname.ends_with(".safetensors")) continue;
    if (entry.is_regular_file()) fs::copy_file(entry.path(), dir / fname);
  }
  return dir;
}

bool HasLegacyFiles(const fs::path& folder) {
  return fs::exists(folder / "vocab.txt") ||
         (fs::exists(folder / "vocab.json") && fs::exists(folder / "merges.txt"));
}

TruncationOptions::Strategy StrategyOf(const std::string& s) {
  if (s == "only_first") return TruncationOptions::Strategy::kOnlyFirst;
  if (s == "only_second") return TruncationOptions::Strategy::kOnlySecond;
  return TruncationOptions::Strategy::kLongestFirst;
}

struct Counts {
  size_t cases = 0, pairs = 0, truncations = 0;
};

// Checks every case of one tokenizer entry against `tok`; returns how many were checked.
Counts CheckAll(const Tokenizer& tok, const json& entry, const std::string& label) {
  Counts n;
  for (const json& c : entry["cases"]) {
    const std::string name = label + " " + c["name"].get<std::string>();
    const std::string input = c.contains("bytes_hex") ? FromHex(c["bytes_hex"].get<std::string>())
                                                      : c["text"].get<std::string>();
    const std::string replaced =
        c.contains("text_replaced") ? c["text_replaced"].get<std::string>() : input;
    SCOPED_TRACE(name + " " + Describe(input));

    const Encoding enc = tok.Encode(input);
    EXPECT_EQ(enc.ids, Ints(c["ids"]));
    EXPECT_EQ(enc.offsets, ExpectedOffsets(c["offsets"], enc.sequence_ids, replaced, ""));
    if (c.contains("type_ids")) {
      EXPECT_EQ(enc.type_ids, Ints(c["type_ids"]));
    }
    std::vector<std::string> tokens;
    for (int32_t id : enc.ids) tokens.push_back(tok.IdToToken(id));
    EXPECT_EQ(tokens, c["tokens"].get<std::vector<std::string>>());

    const Encoding plain = tok.Encode(input, /*add_special_tokens=*/false);
    const std::vector<int32_t> ids_ns = Ints(c["ids_no_special"]);
    EXPECT_EQ(plain.ids, ids_ns);
    EXPECT_EQ(tok.Decode(ids_ns), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.Decode(Ints(c["ids"]), /*skip_special_tokens=*/true),
              c["decoded_skip_special"].get<std::string>());
    if (c.contains("decoded_no_cleanup")) {  // only recorded where clean-up is on
      EXPECT_EQ(tok.Decode(ids_ns, false, /*clean_up_tokenization_spaces=*/false),
                c["decoded_no_cleanup"].get<std::string>());
    }
    ++n.cases;
  }
  if (entry.contains("pair_cases")) {
    for (const json& c : entry["pair_cases"]) {
      const std::string a = c["text_a"], b = c["text_b"];
      SCOPED_TRACE(label + " " + c["name"].get<std::string>() + " " + Describe(a) + " / " + Describe(b));
      const Encoding enc = tok.EncodePair(a, b);
      EXPECT_EQ(enc.ids, Ints(c["ids"]));
      EXPECT_EQ(enc.type_ids, Ints(c["type_ids"]));
      EXPECT_EQ(enc.offsets, ExpectedOffsets(c["offsets"], enc.sequence_ids, a, b));
      ++n.pairs;
    }
  }
  for (const json& c : entry["truncation_cases"]) {
    SCOPED_TRACE(label + " " + c["name"].get<std::string>());
    TruncationOptions t;
    t.max_length = c["max_length"].get<size_t>();
    if (c["truncation"].is_string()) t.strategy = StrategyOf(c["truncation"].get<std::string>());
    const bool pair = c.contains("text_a");
    const Encoding enc = pair ? tok.EncodePair(c["text_a"].get<std::string>(),
                                               c["text_b"].get<std::string>(), true, t)
                              : tok.Encode(c["text"].get<std::string>(), true, t);
    if (c.contains("error")) {
      EXPECT_TRUE(enc.truncation_impossible) << c["error"];
      EXPECT_EQ(enc.num_truncated, 0u);
      ++n.truncations;
      continue;
    }
    EXPECT_EQ(enc.ids, Ints(c["ids"]));
    EXPECT_LE(enc.ids.size(), t.max_length);
    EXPECT_FALSE(enc.truncation_impossible);
    if (c.contains("type_ids")) {
      EXPECT_EQ(enc.type_ids, Ints(c["type_ids"]));
    }
    const std::string a = pair ? c["text_a"].get<std::string>() : c["text"].get<std::string>();
    const std::string b = pair ? c["text_b"].get<std::string>() : "";
    EXPECT_EQ(enc.offsets, ExpectedOffsets(c["offsets"], enc.sequence_ids, a, b));
    const Encoding full = pair ? tok.EncodePair(a, b) : tok.Encode(a);
    EXPECT_EQ(enc.num_truncated, full.ids.size() - enc.ids.size());
    ++n.truncations;
  }
  return n;
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, MatchesHuggingFaceForEveryCase) {
  const std::string name = GetParam();
  const json& all = Cases();
  ASSERT_TRUE(all.contains("tokenizers"));
  ASSERT_TRUE(all["tokenizers"].contains(name)) << "no golden cases for " << name;
  const json& entry = all["tokenizers"][name];
  const fs::path folder = kGolden / entry["folder"].get<std::string>();
  ASSERT_GE(entry["cases"].size(), 500u);

  auto from_json = Tokenizer::LoadFromFolder(folder.string());
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  const Tokenizer& tok = **from_json;
  EXPECT_EQ(tok.vocab_size(), entry["vocab_size"].get<int32_t>());
  for (const auto& [token, id] : entry["special_token_ids"].items()) {
    EXPECT_EQ(tok.TokenToId(token), std::optional<int32_t>(id.get<int32_t>())) << token;
    EXPECT_TRUE(tok.IsSpecial(id.get<int32_t>())) << token;
  }
  const Counts n = CheckAll(tok, entry, name + "/tokenizer.json");
  std::cout << "[ parity ] " << name << " tokenizer.json: " << n.cases << " cases, " << n.pairs
            << " pairs, " << n.truncations << " truncation cases\n";

  ASSERT_TRUE(HasLegacyFiles(folder)) << name << " has no legacy vocabulary files";
  const fs::path legacy = LegacyCopy(folder, name);
  auto from_legacy = Tokenizer::LoadFromFolder(legacy.string());
  ASSERT_TRUE(from_legacy.ok()) << from_legacy.status();
  EXPECT_EQ((*from_legacy)->vocab_size(), entry["vocab_size"].get<int32_t>());
  const Counts m = CheckAll(**from_legacy, entry, name + "/legacy");
  std::cout << "[ parity ] " << name << " legacy files: " << m.cases << " cases, " << m.pairs
            << " pairs, " << m.truncations << " truncation cases\n";
  fs::remove_all(legacy);
}

std::vector<std::string> TokenizerNames() {
  std::vector<std::string> names;
  const json& all = Cases();
  if (all.contains("tokenizers")) {
    for (const auto& [k, v] : all["tokenizers"].items()) names.push_back(k);
  }
  if (names.empty()) names.push_back("missing-golden-data");
  return names;
}

INSTANTIATE_TEST_SUITE_P(Golden, TokenizerParity, ::testing::ValuesIn(TokenizerNames()),
                         [](const auto& info) { return info.param; });

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The other model folders of the golden data (distilbert, bert-embed, gpt2-f16, ...) carry copies
// of the golden tokenizers with their own tokenizer_config.json (e.g. DistilBertTokenizer): every
// case must come out the same from them, from tokenizer.json and from the legacy files.
TEST(TokenizerParityFolders, CopiesOfGoldenTokenizersMatchEveryCase) {
  const fs::path models = kGolden / "models";
  ASSERT_TRUE(fs::is_directory(models));
  const json& all = Cases();
  ASSERT_TRUE(all.contains("tokenizers"));
  size_t folders = 0;
  for (const auto& dir : fs::directory_iterator(models)) {
    if (!fs::exists(dir.path() / "tokenizer.json")) continue;
    auto tok = Tokenizer::LoadFromFolder(dir.path().string());
    ASSERT_TRUE(tok.ok()) << dir.path() << ": " << tok.status();
    ++folders;
    const std::string content = ReadAll(dir.path() / "tokenizer.json");
    for (const auto& [name, entry] : all["tokenizers"].items()) {
      const fs::path source = kGolden / entry["folder"].get<std::string>();
      if (fs::equivalent(source, dir.path()) || ReadAll(source / "tokenizer.json") != content) continue;
      const std::string label = dir.path().filename().string();
      const Counts n = CheckAll(**tok, entry, label + "(" + name + ")/tokenizer.json");
      std::cout << "[ parity ] " << label << " (copy of " << name << "): " << n.cases << " cases\n";
      if (HasLegacyFiles(dir.path())) {
        const fs::path legacy = LegacyCopy(dir.path(), label);
        auto from_legacy = Tokenizer::LoadFromFolder(legacy.string());
        ASSERT_TRUE(from_legacy.ok()) << from_legacy.status();
        CheckAll(**from_legacy, entry, label + "(" + name + ")/legacy");
        fs::remove_all(legacy);
      }
    }
  }
  EXPECT_GE(folders, 4u);
}

}  // namespace
}  // namespace infer::tokenizer
