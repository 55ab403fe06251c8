// Malformed tokenizer files are rejected by LoadFromFolder with INVALID_ARGUMENT and a message
// that names the file and the problem; nothing crashes.
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "server/tokenizer/testing/test_folders.h"
#include "server/tokenizer/tokenizer.h"

namespace infer::tokenizer {
namespace {

using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::ByteLevelTokenizerJson;
using testing::TempDir;
using testing::WordPieceTokenizerJson;

const std::vector<std::string> kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"};

// Loads `dir` and expects INVALID_ARGUMENT whose message contains every part of `want`.
void ExpectInvalid(const TempDir& dir, std::initializer_list<std::string> want) {
  auto tok = Tokenizer::LoadFromFolder(dir.path());
  ASSERT_FALSE(tok.ok()) << "loaded although malformed";
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << tok.status();
  const std::string msg(tok.status().message());
  for (const std::string& w : want) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
}

void ExpectInvalidJson(const json& j, std::initializer_list<std::string> want) {
  TempDir dir;
  dir.WriteJson("tokenizer.json", j);
  ExpectInvalid(dir, want);
}

TEST(TokenizerMalformed, NotJsonOrTruncated) {
  TempDir dir;
  const std::string good = WordPieceTokenizerJson(kVocab).dump();
  dir.Write("tokenizer.json", good.substr(0, good.size() / 2));
  ExpectInvalid(dir, {"tokenizer.json", "not valid JSON"});
  dir.Write("tokenizer.json", "");
  ExpectInvalid(dir, {"tokenizer.json", "not valid JSON"});
}

TEST(TokenizerMalformed, WrongTopLevelShape) {
  ExpectInvalidJson(json::array({1, 2}), {"tokenizer.json", "expected an object"});
  json j = WordPieceTokenizerJson(kVocab);
  j.erase("model");
  ExpectInvalidJson(j, {"tokenizer.json", "missing field 'model'"});
  j = WordPieceTokenizerJson(kVocab);
  j["version"] = "2.0";
  ExpectInvalidJson(j, {"tokenizer.json", "version", "2.0"});
}

TEST(TokenizerMalformed, WrongFieldTypes) {
  json j = WordPieceTokenizerJson(kVocab);
  j["model"]["vocab"] = json::array({"a", "b"});
  ExpectInvalidJson(j, {"tokenizer.json", "model.vocab", "expected an object"});
  j = WordPieceTokenizerJson(kVocab);
  j["model"]["vocab"]["a"] = "five";
  ExpectInvalidJson(j, {"tokenizer.json", "model.vocab.a", "expected an integer"});
  j = WordPieceTokenizerJson(kVocab);
  j["normalizer"]["lowercase"] = "yes";
  ExpectInvalidJson(j, {"tokenizer.json", "normalizer.lowercase", "expected a boolean"});
  j = ByteLevelTokenizerJson({});
  j["pre_tokenizer"]["add_prefix_space"] = 1;
  ExpectInvalidJson(j, {"tokenizer.json", "pre_tokenizer.add_prefix_space", "boolean"});
  j = WordPieceTokenizerJson(kVocab);
  j["added_tokens"] = json::object();
  ExpectInvalidJson(j, {"tokenizer.json", "added_tokens", "expected an array"});
  j = WordPieceTokenizerJson(kVocab);
  j["added_tokens"][0].erase("content");
  ExpectInvalidJson(j, {"tokenizer.json", "added_tokens[0]", "content"});
  j = ByteLevelTokenizerJson({{"a", "b"}});
  j["model"]["merges"] = json::array({json::array({"a"})});
  ExpectInvalidJson(j, {"tokenizer.json", "model.merges[0]"});
}

TEST(TokenizerMalformed, UnsupportedComponents) {
  json j = WordPieceTokenizerJson(kVocab);
  j["model"]["type"] = "Unigram";
  ExpectInvalidJson(j, {"tokenizer.json", "unsupported model type 'Unigram'"});
  j = WordPieceTokenizerJson(kVocab);
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  ExpectInvalidJson(j, {"tokenizer.json", "unsupported normalizer type 'Precompiled'"});
  j = WordPieceTokenizerJson(kVocab);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  ExpectInvalidJson(j, {"tokenizer.json", "unsupported pre_tokenizer type 'Metaspace'"});
  j = WordPieceTokenizerJson(kVocab);
  j["decoder"] = {{"type", "Metaspace"}};
  ExpectInvalidJson(j, {"tokenizer.json", "unsupported decoder type 'Metaspace'"});
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"] = {{"type", "Nope"}};
  ExpectInvalidJson(j, {"tokenizer.json", "unsupported post_processor type 'Nope'"});
  j = ByteLevelTokenizerJson({});
  j["model"]["dropout"] = 0.1;
  ExpectInvalidJson(j, {"tokenizer.json", "dropout"});
}

TEST(TokenizerMalformed, MergesWithUnknownSymbols) {
  json j = ByteLevelTokenizerJson({{"a", "b"}});
  j["model"]["merges"].push_back("zz q");
  ExpectInvalidJson(j, {"tokenizer.json", "merge 2", "'zz'", "not in the vocabulary"});
  // The merged token must exist too.
  j = ByteLevelTokenizerJson({{"a", "b"}});
  j["model"]["merges"].push_back("x y");
  ExpectInvalidJson(j, {"tokenizer.json", "'xy'", "not in the vocabulary"});
  j = ByteLevelTokenizerJson({{"a", "b"}});
  j["model"]["merges"].push_back("abc");
  ExpectInvalidJson(j, {"tokenizer.json", "model.merges[1]", "not two tokens"});
}

TEST(TokenizerMalformed, BadIds) {
  json j = WordPieceTokenizerJson(kVocab);
  j["model"]["vocab"]["a"] = 6;  // same id as "##b"
  ExpectInvalidJson(j, {"tokenizer.json", "id 6", "used by both"});
  j = WordPieceTokenizerJson(kVocab);
  j["model"]["vocab"]["a"] = -3;
  ExpectInvalidJson(j, {"tokenizer.json", "-3", "out of range"});
  j = WordPieceTokenizerJson(kVocab);
  j["model"]["vocab"]["a"] = 1LL << 40;
  ExpectInvalidJson(j, {"tokenizer.json", "out of range"});
  // An added token whose declared id is not the one the vocabulary gives it.
  j = WordPieceTokenizerJson(kVocab);
  j["added_tokens"][0]["id"] = 5;
  ExpectInvalidJson(j, {"tokenizer.json", "added_tokens", "[PAD]", "declares id 5"});
  // Post-processor ids that are not in the vocabulary.
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = json::array({999});
  ExpectInvalidJson(j, {"tokenizer.json", "post_processor", "[CLS]", "999"});
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 4000}}};
  ExpectInvalidJson(j, {"tokenizer.json", "4000", "not in the vocabulary"});
  j = WordPieceTokenizerJson(kVocab);
  j["model"]["unk_token"] = "<unk>";
  ExpectInvalidJson(j, {"tokenizer.json", "unk_token '<unk>'"});
}

TEST(TokenizerMalformed, BadTemplates) {
  json j = WordPieceTokenizerJson(kVocab);
  j["post_processor"]["single"].push_back({{"SpecialToken", {{"id", "[EOS]"}, {"type_id", 0}}}});
  ExpectInvalidJson(j, {"tokenizer.json", "[EOS]", "missing from special_tokens"});
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"]["single"].push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  ExpectInvalidJson(j, {"tokenizer.json", "single", "$B"});
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"]["pair"][0] = "nonsense";
  ExpectInvalidJson(j, {"tokenizer.json", "post_processor.pair[0]"});
  j = WordPieceTokenizerJson(kVocab);
  j["post_processor"]["special_tokens"]["[CLS]"]["tokens"] = json::array({"[CLS]", "[CLS]"});
  ExpectInvalidJson(j, {"tokenizer.json", "same length"});
}

TEST(TokenizerMalformed, ConfigFiles) {
  TempDir dir;
  dir.WriteJson("tokenizer.json", WordPieceTokenizerJson(kVocab));
  dir.Write("tokenizer_config.json", "{\"do_lower_case\": tru");
  ExpectInvalid(dir, {"tokenizer_config.json", "not valid JSON"});
  dir.WriteJson("tokenizer_config.json", {{"do_lower_case", "no"}});
  ExpectInvalid(dir, {"tokenizer_config.json", "do_lower_case", "boolean"});
  dir.WriteJson("tokenizer_config.json", {{"added_tokens_decoder", {{"x", {{"content", "[PAD]"}}}}}});
  ExpectInvalid(dir, {"tokenizer_config.json", "added_tokens_decoder", "'x'"});
  dir.WriteJson("tokenizer_config.json", json::object());
  dir.WriteJson("special_tokens_map.json", {{"cls_token", 5}});
  ExpectInvalid(dir, {"special_tokens_map.json", "cls_token"});
}

TEST(TokenizerMalformed, LegacyFiles) {
  {
    TempDir dir;
    dir.WriteJson("vocab.json", json::array({"a"}));
    dir.Write("merges.txt", "#version: 0.2\n");
    ExpectInvalid(dir, {"vocab.json", "expected an object"});
  }
  {
    TempDir dir;
    json vocab = ByteLevelTokenizerJson({})["model"]["vocab"];
    dir.WriteJson("vocab.json", vocab);
    dir.Write("merges.txt", "#version: 0.2\na b c\n");
    ExpectInvalid(dir, {"merges.txt", "line 2"});
    dir.Write("merges.txt", "#version: 0.2\n\xC4\xA0 qq\n");
    ExpectInvalid(dir, {"merges.txt", "'qq'", "not in the vocabulary"});
  }
  {
    TempDir dir;
    dir.Write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhello\n");
    ExpectInvalid(dir, {"vocab.txt", "'hello'", "twice"});
    dir.Write("vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
    ExpectInvalid(dir, {"vocab.txt", "unk_token '[UNK]'"});
    dir.Write("vocab.txt", "[PAD]\n[UNK]\nhello\n");
    ExpectInvalid(dir, {"vocab.txt", "cls_token"});
  }
}

TEST(TokenizerMalformed, MissingFolderOrFilesIsNotFound) {
  auto tok = Tokenizer::LoadFromFolder("/nonexistent/tokenizer/folder");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  TempDir empty;
  tok = Tokenizer::LoadFromFolder(empty.path());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(tok.status().message()).find("tokenizer.json"), std::string::npos);
}

// Every prefix and many random byte edits of a valid file either load or fail cleanly.
TEST(TokenizerMalformed, CorruptedFilesNeverCrash) {
  const std::string good = ByteLevelTokenizerJson({{"a", "b"}, {"ab", "c"}}).dump();
  const std::string good_wp = WordPieceTokenizerJson(kVocab).dump();
  std::mt19937 rng(7);
  size_t rejected = 0, total = 0;
  for (const std::string* base : {&good, &good_wp}) {
    TempDir dir;
    for (size_t cut = 0; cut < base->size(); cut += 1 + base->size() / 150) {
      dir.Write("tokenizer.json", base->substr(0, cut));
      auto tok = Tokenizer::LoadFromFolder(dir.path());
      ++total;
      if (!tok.ok()) {
        ++rejected;
        EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
    const std::string alphabet = "{}[]\":,0123456789-aAtfn ";
    for (int k = 0; k < 300; ++k) {
      std::string s = *base;
      for (int e = 0; e < 3; ++e) s[rng() % s.size()] = alphabet[rng() % alphabet.size()];
      dir.Write("tokenizer.json", s);
      auto tok = Tokenizer::LoadFromFolder(dir.path());
      ++total;
      if (tok.ok()) {
        (*tok)->Encode("abc ab [CLS] a##b");  // whatever loaded must also run
      } else {
        ++rejected;
        EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << tok.status();
      }
    }
  }
  EXPECT_GT(rejected, total / 2);
}

}  // namespace
}  // namespace infer::tokenizer
