// StreamDecoder: text streamed token by token is always valid UTF-8, characters split across
// byte-level tokens are held back until complete, and the concatenation equals Decode().
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/tokenizer/testing/test_folders.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

using json = nlohmann::json;
using testing::AddedTokenJson;
using testing::ByteLevelTokenizerJson;
using testing::TempDir;
using testing::WordPieceTokenizerJson;

const std::string kFFFD = "\xEF\xBF\xBD";

std::unique_ptr<Tokenizer> Load(const TempDir& dir, const json& j, bool clean_up = false) {
  dir.WriteJson("tokenizer.json", j);
  dir.WriteJson("tokenizer_config.json", {{"clean_up_tokenization_spaces", clean_up}});
  auto tok = Tokenizer::LoadFromFolder(dir.path());
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// Streams `ids`, checking every chunk; returns the chunks (the last one from Finish()).
std::vector<std::string> Stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip = false) {
  StreamDecoder dec(tok, skip);
  std::vector<std::string> chunks;
  for (int32_t id : ids) {
    chunks.push_back(dec.Push(id));
    EXPECT_TRUE(IsValidUtf8(chunks.back())) << chunks.back();
  }
  chunks.push_back(dec.Finish());
  EXPECT_TRUE(IsValidUtf8(chunks.back()));
  return chunks;
}

std::string Join(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) out += c;
  return out;
}

// A byte-level tokenizer without merges: every byte is its own token, the hardest case.
json BytesOnly() { return ByteLevelTokenizerJson({}); }

TEST(TokenizerStream, EmojiAndCjkSplitAcrossByteTokens) {
  TempDir dir;
  auto tok = Load(dir, BytesOnly());
  ASSERT_TRUE(tok);
  const std::string text = "Hi \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!";
  const Encoding e = tok->Encode(text);
  ASSERT_EQ(e.ids.size(), text.size());
  const std::vector<std::string> chunks = Stream(*tok, e.ids);
  EXPECT_EQ(Join(chunks), text);
  EXPECT_EQ(Join(chunks), tok->Decode(e.ids));
  // The emoji's first three bytes produce nothing; the fourth releases the whole character.
  EXPECT_EQ(chunks[3], "");
  EXPECT_EQ(chunks[4], "");
  EXPECT_EQ(chunks[5], "");
  EXPECT_EQ(chunks[6], "\xF0\x9F\x98\x80");
  EXPECT_EQ(chunks.back(), "");
}

TEST(TokenizerStream, InvalidBytesBecomeReplacementCharacters) {
  TempDir dir;
  auto tok = Load(dir, BytesOnly());
  ASSERT_TRUE(tok);
  // Byte tokens have ids equal to the byte value in this vocabulary.
  std::vector<int32_t> ids = {0xE4, 'a'};
  std::vector<std::string> chunks = Stream(*tok, ids);
  EXPECT_EQ(chunks[0], "");            // could still become 你
  EXPECT_EQ(chunks[1], kFFFD + "a");   // it did not
  EXPECT_EQ(Join(chunks), tok->Decode(ids));
  // A sequence cut off at the end is flushed by Finish().
  ids = {'x', 0xF0, 0x9F};
  chunks = Stream(*tok, ids);
  EXPECT_EQ(chunks[0], "x");
  EXPECT_EQ(chunks[1] + chunks[2], "");
  EXPECT_EQ(chunks[3], kFFFD);
  EXPECT_EQ(Join(chunks), tok->Decode(ids));
  // Bytes that can never start a character are replaced at once.
  chunks = Stream(*tok, {0xFF, 0x80});
  EXPECT_EQ(chunks[0], kFFFD);
  EXPECT_EQ(chunks[1], kFFFD);
}

TEST(TokenizerStream, SkipsSpecialTokensLikeDecode) {
  TempDir dir;
  json j = BytesOnly();
  j["added_tokens"].push_back(AddedTokenJson(256, "<|endoftext|>", true));
  j["model"]["vocab"]["<|endoftext|>"] = 256;
  auto tok = Load(dir, j);
  ASSERT_TRUE(tok);
  const std::vector<int32_t> ids = tok->Encode("ab<|endoftext|>\xC3\xA9").ids;
  EXPECT_EQ(Join(Stream(*tok, ids)), "ab<|endoftext|>\xC3\xA9");
  EXPECT_EQ(Join(Stream(*tok, ids, /*skip=*/true)), "ab\xC3\xA9");
  EXPECT_EQ(Join(Stream(*tok, ids, true)), tok->Decode(ids, true));
  EXPECT_EQ(Join(Stream(*tok, {99999, 'a'})), "a");  // unknown ids are skipped
}

TEST(TokenizerStream, WordPieceStreamsWordsWithSpaces) {
  TempDir dir;
  const std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff",
                                          "##able", "hello", ",", "!", "'", "s", "."};
  auto tok = Load(dir, WordPieceTokenizerJson(vocab), /*clean_up=*/true);
  ASSERT_TRUE(tok);
  const std::vector<int32_t> ids = tok->Encode("Unaffable, hello! hello 's.").ids;
  const std::vector<std::string> chunks = Stream(*tok, ids);
  EXPECT_EQ(Join(chunks), tok->Decode(ids));
  EXPECT_EQ(Join(Stream(*tok, ids, true)), tok->Decode(ids, true));
  EXPECT_EQ(tok->Decode(ids, true), "unaffable, hello! hello's.");
}

// Random id sequences over bytes that matter (spaces, quotes, clean-up patterns, multi-byte
// characters, invalid bytes): streaming must reproduce Decode exactly, clean-up on and off.
TEST(TokenizerStream, RandomSequencesMatchDecode) {
  const std::vector<int32_t> interesting = {' ', ' ', '\'', 's', 'n', 't', '.', ',', '?', '!', 'm', 'v', 'e', 'r',
                                            'a', 0xC3, 0xA9, 0xE4, 0xBD, 0xA0, 0xF0, 0x9F, 0x98, 0x80, 0xFF, 0x80};
  std::mt19937 rng(42);
  for (bool clean_up : {false, true}) {
    TempDir dir;
    auto tok = Load(dir, ByteLevelTokenizerJson({{" ", "'"}, {"'", "s"}, {" ", "."}}), clean_up);
    ASSERT_TRUE(tok);
    for (int round = 0; round < 2000; ++round) {
      std::vector<int32_t> ids;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) ids.push_back(interesting[rng() % interesting.size()]);
      if (rng() % 4 == 0) ids.push_back(256 + static_cast<int32_t>(rng() % 3));  // merged tokens
      const std::string want = tok->Decode(ids);
      const std::string got = Join(Stream(*tok, ids));
      ASSERT_EQ(got, want) << "clean_up=" << clean_up << " round " << round;
    }
  }
}

// Real vocabularies: every golden case streams to exactly its decoded text.
TEST(TokenizerStream, GoldenTokenizersStreamEveryCase) {
  const std::filesystem::path golden = INFER_GOLDEN_DIR;
  size_t streamed = 0;
  for (const char* name : {"gpt2", "roberta", "bert"}) {
    auto tok = Tokenizer::LoadFromFolder((golden / "models" / name).string());
    ASSERT_TRUE(tok.ok()) << tok.status();
    for (const std::string text : {"Hello world! It's 3.14 \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD caf\xC3\xA9.",
                                   "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 don't , stop ?",
                                   "a\xFF" "b \xE2\x82 tail", ""}) {
      const std::vector<int32_t> ids = (*tok)->Encode(text).ids;
      EXPECT_EQ(Join(Stream(**tok, ids)), (*tok)->Decode(ids)) << name << " " << text;
      EXPECT_EQ(Join(Stream(**tok, ids, true)), (*tok)->Decode(ids, true)) << name << " " << text;
      ++streamed;
    }
  }
  EXPECT_EQ(streamed, 12u);
}

}  // namespace
}  // namespace infer::tokenizer
