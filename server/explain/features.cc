#include "server/explain/features.h"

#include <algorithm>
#include <cassert>
#include <map>

namespace infer::explain {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The source text of token i, or empty when it has no usable span.
std::string_view SpanText(std::span<const std::pair<size_t, size_t>> spans,
                          std::span<const int32_t> segments, std::string_view a,
                          std::string_view b, size_t i) {
  if (i >= segments.size() || (segments[i] != 0 && segments[i] != 1)) return {};
  const std::string_view text = segments[i] == 0 ? a : b;
  const auto [begin, end] = spans[i];
  if (begin >= end || end > text.size()) return {};
  return text.substr(begin, end - begin);
}

}  // namespace

Features GroupFeatures(std::span<const std::pair<size_t, size_t>> byte_spans,
                       std::span<const uint8_t> special, std::span<const int32_t> segments,
                       std::string_view text_a, std::string_view text_b, int perturbable_tokens,
                       Granularity g) {
  const size_t n = byte_spans.size();
  assert(special.size() == n && segments.size() == n);
  const size_t perturbable = std::min(n, static_cast<size_t>(std::max(perturbable_tokens, 0)));
  Features f;
  f.feature_of_token.assign(n, -1);
  std::map<int32_t, int32_t> feature_of_segment;
  for (size_t i = 0; i < perturbable; ++i) {
    if (special[i]) continue;
    switch (g) {
      case Granularity::kToken:
        f.feature_of_token[i] = f.count++;
        break;
      case Granularity::kSegment: {
        auto [it, added] = feature_of_segment.try_emplace(segments[i], f.count);
        if (added) ++f.count;
        f.feature_of_token[i] = it->second;
        break;
      }
      case Granularity::kWord: {
        bool continues = false;
        if (i > 0 && f.feature_of_token[i - 1] >= 0 && segments[i - 1] == segments[i]) {
          const std::string_view cur = SpanText(byte_spans, segments, text_a, text_b, i);
          const std::string_view prev = SpanText(byte_spans, segments, text_a, text_b, i - 1);
          const auto [pb, pe] = byte_spans[i - 1];
          const size_t cb = byte_spans[i].first;
          continues = !cur.empty() && !prev.empty() && cb >= pb && cb <= pe &&
                      !IsSpace(cur.front()) && !IsSpace(prev.back());
        }
        f.feature_of_token[i] = continues ? f.feature_of_token[i - 1] : f.count++;
        break;
      }
    }
  }
  return f;
}

std::vector<std::string> FeatureTexts(const Features& features,
                                      std::span<const std::pair<size_t, size_t>> byte_spans,
                                      std::span<const int32_t> segments, std::string_view text_a,
                                      std::string_view text_b,
                                      std::span<const std::string> token_texts) {
  std::vector<std::string> out(features.count);
  // Per feature: where its source bytes so far end (segment, end), to continue from there.
  struct Cursor {
    int32_t segment = -1;
    size_t end = 0;
    bool open = false;
  };
  std::vector<Cursor> cursor(features.count);
  for (size_t i = 0; i < features.feature_of_token.size(); ++i) {
    const int32_t f = features.feature_of_token[i];
    if (f < 0 || f >= features.count) continue;
    Cursor& cur = cursor[f];
    const std::string_view piece = SpanText(byte_spans, segments, text_a, text_b, i);
    if (piece.empty()) {
      if (i < token_texts.size()) out[f] += token_texts[i];
      cur.open = false;
      continue;
    }
    const std::string_view text = segments[i] == 0 ? text_a : text_b;
    const auto [begin, end] = byte_spans[i];
    if (cur.open && cur.segment == segments[i]) {
      // From where the feature left off: the gap (white space between words) and the token,
      // without repeating bytes a previous piece of the same character already gave.
      if (end > cur.end) {
        out[f] += text.substr(cur.end, end - cur.end);
        cur.end = end;
      }
    } else {
      out[f] += text.substr(begin, end - begin);
      cur = Cursor{segments[i], end, true};
    }
  }
  return out;
}

}  // namespace infer::explain
