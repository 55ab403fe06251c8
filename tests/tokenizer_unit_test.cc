// Unit tests of the tokenizer pieces on tiny hand-written vocabularies; the expected values
// follow from HF's rules by hand (the parity tests compare with HF itself at scale).
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/testing/test_folders.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/unicode_tables.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

using testing::AddedTokenJson;
using testing::ByteLevelTokenizerJson;
using testing::TempDir;
using testing::WordPieceTokenizerJson;
using Offsets = std::vector<std::pair<size_t, size_t>>;

const std::string kFFFD = "\xEF\xBF\xBD";

std::unique_ptr<Tokenizer> LoadJson(const TempDir& dir, const nlohmann::json& tokenizer_json) {
  dir.WriteJson("tokenizer.json", tokenizer_json);
  auto tok = Tokenizer::LoadFromFolder(dir.path());
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

std::vector<std::string> Tokens(const Tokenizer& tok, const Encoding& e) {
  std::vector<std::string> out;
  for (int32_t id : e.ids) out.push_back(tok.IdToToken(id));
  return out;
}

// ---------------------------------------------------------------- UTF-8

TEST(TokenizerUtf8, SanitizeReplacesEachMaximalInvalidSubpart) {
  EXPECT_EQ(SanitizeUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(SanitizeUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(SanitizeUtf8("a\xFF" "b"), "a" + kFFFD + "b");
  // A truncated 4-byte sequence is one maximal subpart: one U+FFFD.
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98"), kFFFD);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98!"), kFFFD + "!");
  // E0 80: 80 is not a valid second byte after E0 (overlong), so each byte is its own subpart.
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\x80"), kFFFD + kFFFD + kFFFD);
  // Surrogates (ED A0..BF) and values above U+10FFFF (F4 90..) are invalid byte by byte.
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), kFFFD + kFFFD + kFFFD + kFFFD);
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), kFFFD + kFFFD);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), kFFFD);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8("\x80\xBF\xFE\xC2")));
}

TEST(TokenizerUtf8, IncompleteTailIsOnlyAValidPrefix) {
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xC3"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xE0\x80"), 0u);  // can never become valid
  EXPECT_EQ(IncompleteUtf8Tail("a\x80"), 0u);
}

// ---------------------------------------------------------------- GPT-2 pre-tokenisation

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  for (auto [b, e] : Gpt2Split(s)) out.push_back(s.substr(b, e - b));
  return out;
}

TEST(TokenizerGpt2Split, FollowsTheRegex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(Split("I'm here, they'll"), (V{"I", "'m", " here", ",", " they", "'ll"}));
  EXPECT_EQ(Split("'S 'Re"), (V{"'", "S", " '", "Re"}));  // contractions are lowercase only
  // A whitespace run keeps its last space for the next word, unless it ends the text.
  EXPECT_EQ(Split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Split("x\n\ny"), (V{"x", "\n", "\n", "y"}));
  EXPECT_EQ(Split("hi!!  "), (V{"hi", "!!", "  "}));
  EXPECT_EQ(Split(" 123abc"), (V{" 123", "abc"}));
  EXPECT_EQ(Split("na\xC3\xAFve caf\xC3\xA9"), (V{"na\xC3\xAFve", " caf\xC3\xA9"}));
  EXPECT_EQ(Split("\xF0\x9F\x98\x80\xF0\x9F\x98\x80 x"), (V{"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", " x"}));
  // U+3000 is whitespace for the regex; U+00A0 too.
  EXPECT_EQ(Split("a\xE3\x80\x80\xE3\x80\x80" "b"), (V{"a", "\xE3\x80\x80", "\xE3\x80\x80", "b"}));
  EXPECT_TRUE(Split("").empty());
}

TEST(TokenizerByteLevel, BytesMapToDistinctPrintableCharacters) {
  EXPECT_EQ(ByteToChar(' '), U'\u0120');  // 'Ġ'
  EXPECT_EQ(ByteToChar('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(ByteToChar('A'), U'A');
  std::vector<bool> seen(512, false);
  for (int b = 0; b < 256; ++b) {
    const char32_t c = ByteToChar(static_cast<uint8_t>(b));
    ASSERT_LT(c, 512u);
    EXPECT_FALSE(seen[c]);
    seen[c] = true;
    EXPECT_EQ(CharToByte(c), b);
  }
  EXPECT_EQ(CharToByte(U'\u4E00'), -1);
}

TEST(TokenizerUnicode, ClassesAsHfSeesThem) {
  using unicode::Gpt2Class;
  EXPECT_EQ(unicode::Gpt2ClassOf(U'\u00E9'), Gpt2Class::kLetter);
  EXPECT_EQ(unicode::Gpt2ClassOf(U'\u0663'), Gpt2Class::kNumber);
  EXPECT_EQ(unicode::Gpt2ClassOf(U'\u3000'), Gpt2Class::kSpace);
  EXPECT_EQ(unicode::Gpt2ClassOf(U'\u001C'), Gpt2Class::kOther);  // not White_Space
  // Oniguruma in HF predates CJK Extension H (Unicode 15): not a letter there.
  EXPECT_EQ(unicode::Gpt2ClassOf(U'\U00031350'), Gpt2Class::kOther);
  EXPECT_TRUE(unicode::BertCleanDrops(U'\u200B'));   // Cf
  EXPECT_FALSE(unicode::BertCleanDrops(U'\u0378'));  // unassigned stays
  EXPECT_TRUE(unicode::BertIsPunctuation(U'$'));     // ASCII symbols count
  EXPECT_TRUE(unicode::BertIsPunctuation(U'\u00A7'));   // Po
  EXPECT_FALSE(unicode::BertIsPunctuation(U'\u00B4'));  // Sk
  // Pd in current Unicode, missing from the older tables HF's BERT pre-tokenizer uses.
  EXPECT_FALSE(unicode::BertIsPunctuation(U'\u2E43'));
  EXPECT_TRUE(unicode::IsChineseChar(U'\u4E2D'));
  EXPECT_FALSE(unicode::IsChineseChar(U'\u3042'));  // hiragana
  EXPECT_EQ(unicode::ToLower(U'\u0130'), (std::u32string{U'i', U'\u0307'}));
  EXPECT_EQ(unicode::CanonicalDecomposition(U'\u00E9'), (std::u32string{U'e', U'\u0301'}));
}

// ---------------------------------------------------------------- byte-level BPE

TEST(TokenizerBpe, MergesByRankAndReportsByteOffsets) {
  TempDir dir;
  auto tok = LoadJson(dir, ByteLevelTokenizerJson({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}}));
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("hello hello");
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"hello", "\xC4\xA0", "hello"}));  // "Ġ"
  EXPECT_EQ(e.offsets, (Offsets{{0, 5}, {5, 6}, {6, 11}}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(e.special_mask, (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(tok->Decode(e.ids), "hello hello");
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  TempDir dir;
  auto tok = LoadJson(dir, ByteLevelTokenizerJson({{"a", "a"}}));
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("aaa");
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"aa", "a"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 2}, {2, 3}}));
}

TEST(TokenizerBpe, CharacterSplitAcrossTokensKeepsItsWholeSpan) {
  TempDir dir;
  auto tok = LoadJson(dir, ByteLevelTokenizerJson({}));
  ASSERT_TRUE(tok);
  const std::string emoji = "\xF0\x9F\x98\x80";
  const Encoding e = tok->Encode("a" + emoji);
  ASSERT_EQ(e.ids.size(), 5u);  // 'a' and the four bytes of the emoji
  EXPECT_EQ(e.offsets, (Offsets{{0, 1}, {1, 5}, {1, 5}, {1, 5}, {1, 5}}));
  std::string bytes;
  for (int32_t id : e.ids) bytes += tok->TokenBytes(id);
  EXPECT_EQ(bytes, "a" + emoji);
  EXPECT_EQ(tok->Decode(e.ids), "a" + emoji);
  // Half of the character decodes to a replacement character, as HF's from_utf8_lossy.
  EXPECT_EQ(tok->Decode(std::vector<int32_t>{e.ids[0], e.ids[1], e.ids[2]}), "a" + kFFFD);
}

TEST(TokenizerBpe, InvalidUtf8IsReplacedBeforeTokenizing) {
  TempDir dir;
  auto tok = LoadJson(dir, ByteLevelTokenizerJson({}));
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("a\xFF" "b");
  // "a", the three bytes of U+FFFD, "b"; offsets index the sanitized text "a\uFFFDb".
  ASSERT_EQ(e.ids.size(), 5u);
  EXPECT_EQ(e.offsets, (Offsets{{0, 1}, {1, 4}, {1, 4}, {1, 4}, {4, 5}}));
  EXPECT_EQ(tok->Decode(e.ids), "a" + kFFFD + "b");
}

TEST(TokenizerBpe, SpecialAddedTokensAreMatchedInTheRawText) {
  TempDir dir;
  nlohmann::json j = ByteLevelTokenizerJson({{"h", "i"}});
  j["added_tokens"].push_back(AddedTokenJson(257, "<|endoftext|>", true));
  j["model"]["vocab"]["<|endoftext|>"] = 257;
  auto tok = LoadJson(dir, j);
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("hi<|endoftext|> hi");
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"hi", "<|endoftext|>", "\xC4\xA0", "hi"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 2}, {2, 15}, {15, 16}, {16, 18}}));
  EXPECT_TRUE(tok->IsSpecial(257));
  EXPECT_FALSE(tok->IsSpecial(256));
  EXPECT_EQ(tok->Decode(e.ids), "hi<|endoftext|> hi");
  EXPECT_EQ(tok->Decode(e.ids, /*skip_special_tokens=*/true), "hi hi");
  EXPECT_EQ(tok->vocab_size(), 258);
  // Without a config, the usual special token names are recognised.
  EXPECT_EQ(tok->eos(), std::optional<int32_t>(257));
}

TEST(TokenizerBpe, LstripAddedTokenSwallowsSpacesAndTrimmingDropsThem) {
  TempDir dir;
  nlohmann::json j = ByteLevelTokenizerJson({});
  j["added_tokens"].push_back(AddedTokenJson(256, "<mask>", true, false, /*lstrip=*/true));
  j["model"]["vocab"]["<mask>"] = 256;
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  auto tok = LoadJson(dir, j);
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("a  <mask>");
  ASSERT_EQ(e.ids.size(), 2u);
  EXPECT_EQ(e.ids[1], 256);
  // The match covers "  <mask>" (bytes 1..9); trimming removes the two spaces.
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{3, 9}));
}

// ---------------------------------------------------------------- WordPiece

const std::vector<std::string> kBertVocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", ",", "!",
    "world", "cafe", "\xE4\xB8\xAD" /*中*/, "a", "b", "c", "d", "e", "##s", "'", "s", ".", "##a"};

int32_t Id(const std::string& token) {
  return static_cast<int32_t>(std::find(kBertVocab.begin(), kBertVocab.end(), token) - kBertVocab.begin());
}

TEST(TokenizerWordPiece, GreedyLongestMatchWithContinuations) {
  TempDir dir;
  auto tok = LoadJson(dir, WordPieceTokenizerJson(kBertVocab));
  ASSERT_TRUE(tok);
  const Encoding e = tok->Encode("Unaffable, HELLO!");
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[CLS]", "un", "##aff", "##able", ",", "hello", "!", "[SEP]"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 0}, {0, 2}, {2, 5}, {5, 9}, {9, 10}, {11, 16}, {16, 17}, {0, 0}}));
  EXPECT_EQ(e.special_mask, (std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, 0, 0, 0, -1}));
  EXPECT_EQ(tok->Decode(e.ids), "[CLS] unaffable, hello! [SEP]");
  EXPECT_EQ(tok->Decode(e.ids, /*skip_special_tokens=*/true), "unaffable, hello!");
  EXPECT_EQ(tok->TokenBytes(Id("##aff")), "aff");
  EXPECT_EQ(tok->TokenBytes(Id("hello")), " hello");
}

TEST(TokenizerWordPiece, NormalizerOffsetsPointAtTheOriginalText) {
  TempDir dir;
  auto tok = LoadJson(dir, WordPieceTokenizerJson(kBertVocab));
  ASSERT_TRUE(tok);
  // Accent stripped (é is two bytes), control character dropped, ideograph isolated.
  Encoding e = tok->Encode("Caf\xC3\xA9 hel\x01lo \xE4\xB8\xAD\xE6\x96\x87", false);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"cafe", "hello", "\xE4\xB8\xAD", "[UNK]"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 5}, {6, 12}, {13, 16}, {16, 19}}));
  // A word with an unmatchable rest is one [UNK] over the whole word.
  e = tok->Encode("helloz", false);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 6}}));
  // More than max_input_chars_per_word (100) characters: [UNK].
  e = tok->Encode(std::string(101, 'a'), false);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[UNK]"}));
  e = tok->Encode(std::string(100, 'a'), false);
  EXPECT_EQ(e.ids.size(), 100u);
}

TEST(TokenizerWordPiece, PairsGetTypeIdsAndLongestFirstTruncation) {
  TempDir dir;
  auto tok = LoadJson(dir, WordPieceTokenizerJson(kBertVocab));
  ASSERT_TRUE(tok);
  Encoding e = tok->EncodePair("a b c d e", "a b c");
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, 0, 0, -1, 1, 1, 1, -1}));
  EXPECT_EQ(e.offsets[7], (std::pair<size_t, size_t>{0, 1}));  // offsets of B index text B
  EXPECT_EQ(tok->NumSpecialTokensToAdd(true), 3u);

  // Budget 7 - 3 specials = 4: the shorter B (3) would leave 1 for A, less than B, so both
  // get half.
  TruncationOptions t;
  t.max_length = 7;
  e = tok->EncodePair("a b c d e", "a b c", true, t);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "a", "b", "[SEP]"}));
  EXPECT_EQ(e.num_truncated, 4u);
  // Budget 10 - 3 = 7: B keeps its 3, A gets 4.
  t.max_length = 10;
  e = tok->EncodePair("a b c d e", "a b c", true, t);
  EXPECT_EQ(e.ids.size(), 10u);
  EXPECT_EQ(e.num_truncated, 1u);
  // Single text, and without special tokens the whole budget goes to the text.
  t.max_length = 3;
  e = tok->Encode("a b c d e", true, t);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[CLS]", "a", "[SEP]"}));
  e = tok->Encode("a b c d e", false, t);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"a", "b", "c"}));
  // only_second that cannot reach the budget is refused, as HF does.
  t.max_length = 6;
  t.strategy = TruncationOptions::Strategy::kOnlySecond;
  e = tok->EncodePair("a b c d e", "a b c", true, t);
  EXPECT_TRUE(e.truncation_impossible);
  EXPECT_EQ(e.num_truncated, 0u);
}

TEST(TokenizerWordPiece, BudgetsNotAboveTheSpecialTokensBehaveLikeHf) {
  TempDir dir;
  auto tok = LoadJson(dir, WordPieceTokenizerJson(kBertVocab));
  ASSERT_TRUE(tok);
  TruncationOptions t;
  // Smaller than the 2 special tokens: HF's unsigned subtraction wraps, nothing is cut.
  t.max_length = 1;
  EXPECT_EQ(Tokens(*tok, tok->Encode("a b c", true, t)),
            (std::vector<std::string>{"[CLS]", "a", "b", "c", "[SEP]"}));
  // Equal: the texts get nothing.
  t.max_length = 2;
  EXPECT_EQ(Tokens(*tok, tok->Encode("a b c", true, t)), (std::vector<std::string>{"[CLS]", "[SEP]"}));
  t.max_length = 3;
  const Encoding e = tok->EncodePair("a b", "c d e", true, t);
  EXPECT_EQ(Tokens(*tok, e), (std::vector<std::string>{"[CLS]", "[SEP]", "[SEP]"}));
  EXPECT_EQ(e.num_truncated, 5u);
}

TEST(TokenizerWordPiece, DecodeCleansUpSpacesLikeHf) {
  TempDir dir;
  auto tok = LoadJson(dir, WordPieceTokenizerJson(kBertVocab));
  ASSERT_TRUE(tok);
  const std::vector<int32_t> ids = {Id("hello"), Id("'"), Id("s"), Id("world"), Id(".")};
  // The WordPiece decoder's own clean-up: " ' " stays (no space after it inside one token),
  // " ." -> ".".
  EXPECT_EQ(tok->Decode(ids), "hello ' s world.");
}

// ---------------------------------------------------------------- legacy files, config

TEST(TokenizerLegacy, VocabTxtUsesTokenizerConfigOptions) {
  TempDir dir;
  std::string vocab;
  for (const std::string& t : kBertVocab) vocab += t + "\n";
  vocab += "Hello\n";
  dir.Write("vocab.txt", vocab);
  dir.WriteJson("tokenizer_config.json", {{"tokenizer_class", "BertTokenizer"}, {"do_lower_case", false}});
  auto tok = Tokenizer::LoadFromFolder(dir.path());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Encoding e = (*tok)->Encode("Hello hello");
  EXPECT_EQ(Tokens(**tok, e), (std::vector<std::string>{"[CLS]", "Hello", "hello", "[SEP]"}));
  EXPECT_EQ((*tok)->cls(), std::optional<int32_t>(2));
  EXPECT_EQ((*tok)->sep(), std::optional<int32_t>(3));
  EXPECT_EQ((*tok)->pad(), std::optional<int32_t>(0));
  EXPECT_EQ((*tok)->mask(), std::optional<int32_t>(4));
  EXPECT_EQ((*tok)->unk(), std::optional<int32_t>(1));
  EXPECT_FALSE((*tok)->bos().has_value());
  EXPECT_TRUE((*tok)->IsSpecial(2));
  EXPECT_EQ((*tok)->vocab_size(), static_cast<int32_t>(kBertVocab.size() + 1));
}

TEST(TokenizerLegacy, VocabJsonAndMergesAreGpt2Style) {
  TempDir dir;
  const nlohmann::json j = ByteLevelTokenizerJson({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}});
  nlohmann::json vocab = j["model"]["vocab"];
  vocab["<|endoftext|>"] = static_cast<int>(vocab.size());
  dir.WriteJson("vocab.json", vocab);
  std::string merges = "#version: 0.2\n";
  for (const auto& m : j["model"]["merges"]) merges += m.get<std::string>() + "\n";
  dir.Write("merges.txt", merges);
  auto tok = Tokenizer::LoadFromFolder(dir.path());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Encoding e = (*tok)->Encode("hello<|endoftext|>");
  EXPECT_EQ(Tokens(**tok, e), (std::vector<std::string>{"hello", "<|endoftext|>"}));
  EXPECT_EQ((*tok)->eos(), (*tok)->TokenToId("<|endoftext|>"));
  EXPECT_EQ((*tok)->bos(), (*tok)->TokenToId("<|endoftext|>"));
  EXPECT_TRUE((*tok)->IsSpecial(*(*tok)->eos()));
}

TEST(TokenizerConcurrency, ParallelEncodesAgree) {
  TempDir dir;
  auto tok = LoadJson(dir, ByteLevelTokenizerJson({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}}));
  ASSERT_TRUE(tok);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("hello w" + std::to_string(i) + " hell" + std::string(i % 7, 'o'));
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back(tok->Encode(t).ids);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t j = (i + static_cast<size_t>(k) * 37) % texts.size();
          if (tok->Encode(texts[j]).ids != want[j]) ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace infer::tokenizer
