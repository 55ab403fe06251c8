// Grouping tokens into the features that occlusion and LIME switch on and off: tokens, words or
// whole segments (text and text_pair).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infer::explain {

enum class Granularity { kToken, kWord, kSegment };

struct Features {
  std::vector<int32_t> feature_of_token;  // per token: its feature, or -1 (never perturbed)
  int count = 0;                          // features are numbered 0..count-1 in token order
};

// Per token i (all spans the same length):
//   byte_spans[i]: [begin, end) into its segment's text ((0,0) when it has none)
//   special[i]:    nonzero for tokens the tokenizer added ([CLS], <s>, ...): never features
//   segments[i]:   which text the span indexes: 0 text_a, 1 text_b (the tokenizer's
//                  sequence_ids; any other value means no text)
// Only tokens [0, perturbable_tokens) can be features (the rest, e.g. targets, get -1).
// Word: a token continues the previous token's word when both are non-special features of the
// same segment with non-empty spans, its span starts where the previous one ends (or inside it:
// byte-level BPE gives every piece of a split character that character's span), the byte it
// starts with is not white space, and the previous token does not end in white space (so a
// "\n" token is a word of its own rather than the start of the next one). A token without a
// span is a word of its own. White space is ASCII's.
// Segment: one feature per segment value present, in order of first appearance.
Features GroupFeatures(std::span<const std::pair<size_t, size_t>> byte_spans,
                       std::span<const uint8_t> special, std::span<const int32_t> segments,
                       std::string_view text_a, std::string_view text_b, int perturbable_tokens,
                       Granularity g);

// Each feature's text, for display. Its tokens' bytes are taken from the source text from the
// first token's start to the last token's end, so the white space between the words of a
// segment is kept; a token without a span contributes token_texts[i] instead (e.g. input given
// as token ids: pass the decoded token strings).
std::vector<std::string> FeatureTexts(const Features& features,
                                      std::span<const std::pair<size_t, size_t>> byte_spans,
                                      std::span<const int32_t> segments, std::string_view text_a,
                                      std::string_view text_b,
                                      std::span<const std::string> token_texts);

}  // namespace infer::explain
