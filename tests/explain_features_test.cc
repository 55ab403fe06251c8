// Grouping tokens into token, word and segment features, and the features' texts.
#include "server/explain/features.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace infer::explain {
namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;
using Ids = std::vector<int32_t>;

struct Tokens {
  Spans spans;
  std::vector<uint8_t> special;
  Ids segments;
  std::vector<std::string> texts;
};

Features Group(const Tokens& t, std::string_view a, std::string_view b, Granularity g, int n = -1) {
  return GroupFeatures(t.spans, t.special, t.segments, a, b,
                       n < 0 ? static_cast<int>(t.spans.size()) : n, g);
}

std::vector<std::string> Texts(const Features& f, const Tokens& t, std::string_view a,
                               std::string_view b) {
  return FeatureTexts(f, t.spans, t.segments, a, b, t.texts);
}

// GPT-2 without trimmed offsets: a word-initial token's span includes its space.
TEST(ExplainFeatures, ByteLevelWordsStartAtSpaces) {
  const std::string text = "Hello world, again";
  const Tokens t{{{0, 5}, {5, 11}, {11, 12}, {12, 18}}, {0, 0, 0, 0}, {0, 0, 0, 0}, {}};
  const Features w = Group(t, text, "", Granularity::kWord);
  EXPECT_EQ(w.feature_of_token, (Ids{0, 1, 1, 2}));
  EXPECT_EQ(w.count, 3);
  EXPECT_EQ(Texts(w, t, text, ""), (std::vector<std::string>{"Hello", " world,", " again"}));
  const Features tok = Group(t, text, "", Granularity::kToken);
  EXPECT_EQ(tok.feature_of_token, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(Texts(tok, t, text, "")[2], ",");
}

// Trimmed offsets leave a gap where the space was: still a new word.
TEST(ExplainFeatures, TrimmedOffsetsStartWordsAfterGaps) {
  const std::string text = "Hello world";
  const Tokens t{{{0, 5}, {6, 11}}, {0, 0}, {0, 0}, {}};
  const Features w = Group(t, text, "", Granularity::kWord);
  EXPECT_EQ(w.feature_of_token, (Ids{0, 1}));
  // The segment's text keeps the space between its tokens.
  const Features s = Group(t, text, "", Granularity::kSegment);
  EXPECT_EQ(s.feature_of_token, (Ids{0, 0}));
  EXPECT_EQ(Texts(s, t, text, ""), (std::vector<std::string>{"Hello world"}));
}

// BERT pair: [CLS] un ##believ ##able [SEP] yes [SEP].
TEST(ExplainFeatures, WordPiecePairWithSpecialTokens) {
  const std::string a = "unbelievable", b = "yes";
  const Tokens t{{{0, 0}, {0, 2}, {2, 7}, {7, 12}, {0, 0}, {0, 3}, {0, 0}},
                 {1, 0, 0, 0, 1, 0, 1},
                 {-1, 0, 0, 0, -1, 1, -1},
                 {"[CLS]", "un", "##believ", "##able", "[SEP]", "yes", "[SEP]"}};
  const Features w = Group(t, a, b, Granularity::kWord);
  EXPECT_EQ(w.feature_of_token, (Ids{-1, 0, 0, 0, -1, 1, -1}));
  EXPECT_EQ(Texts(w, t, a, b), (std::vector<std::string>{"unbelievable", "yes"}));
  const Features tok = Group(t, a, b, Granularity::kToken);
  EXPECT_EQ(tok.feature_of_token, (Ids{-1, 0, 1, 2, -1, 3, -1}));
  EXPECT_EQ(tok.count, 4);
  const Features s = Group(t, a, b, Granularity::kSegment);
  EXPECT_EQ(s.feature_of_token, (Ids{-1, 0, 0, 0, -1, 1, -1}));
  EXPECT_EQ(s.count, 2);
}

// Touching spans in different segments are different words.
TEST(ExplainFeatures, WordsDoNotCrossSegments) {
  const Tokens t{{{0, 2}, {2, 4}}, {0, 0}, {0, 1}, {}};
  EXPECT_EQ(Group(t, "abcd", "xyzw", Granularity::kWord).feature_of_token, (Ids{0, 1}));
}

TEST(ExplainFeatures, TargetsBeyondThePerturbableTokensAreNotFeatures) {
  const std::string text = "abcdef";
  const Tokens t{{{0, 2}, {2, 4}, {4, 6}}, {0, 0, 0}, {0, 0, 0}, {}};
  const Features w = Group(t, text, "", Granularity::kWord, 2);
  EXPECT_EQ(w.feature_of_token, (Ids{0, 0, -1}));
  EXPECT_EQ(w.count, 1);
  EXPECT_EQ(Group(t, text, "", Granularity::kSegment, 0).count, 0);
}

// Input given as ids: no spans, each token its own word, texts from the token strings.
TEST(ExplainFeatures, TokensWithoutSpansAreTheirOwnWords) {
  const Tokens t{{{0, 0}, {0, 0}, {0, 0}}, {0, 0, 0}, {0, 0, 0}, {"The", " cat", "s"}};
  const Features w = Group(t, "", "", Granularity::kWord);
  EXPECT_EQ(w.feature_of_token, (Ids{0, 1, 2}));
  EXPECT_EQ(Texts(w, t, "", ""), (std::vector<std::string>{"The", " cat", "s"}));
  const Features s = Group(t, "", "", Granularity::kSegment);
  EXPECT_EQ(Texts(s, t, "", ""), (std::vector<std::string>{"The cats"}));
}

// A white-space token is a word of its own, not the start of the next word.
TEST(ExplainFeatures, WhitespaceTokenIsItsOwnWord) {
  const std::string text = "a\n\nb";
  const Tokens t{{{0, 1}, {1, 3}, {3, 4}}, {0, 0, 0}, {0, 0, 0}, {}};
  EXPECT_EQ(Group(t, text, "", Granularity::kWord).feature_of_token, (Ids{0, 1, 2}));
}

// Byte-level BPE splits "é" (2 bytes) into two tokens that both carry the character's span.
TEST(ExplainFeatures, PiecesOfASplitCharacterStayInTheWord) {
  const std::string text = "caf\xc3\xa9 ok";
  const Tokens t{{{0, 3}, {3, 5}, {3, 5}, {5, 8}}, {0, 0, 0, 0}, {0, 0, 0, 0}, {}};
  const Features w = Group(t, text, "", Granularity::kWord);
  EXPECT_EQ(w.feature_of_token, (Ids{0, 0, 0, 1}));
  EXPECT_EQ(Texts(w, t, text, ""), (std::vector<std::string>{"caf\xc3\xa9", " ok"}));
}

}  // namespace
}  // namespace infer::explain
