// Stop strings over detokenized text. A stop string matches as soon as it appears in the decoded
// text of the generated tokens (the prompt is not searched), also when it is split across tokens
// or a token runs past its end - the cases transformers' StopStringCriteria catches.
//
// What a match does to the output is the caller's choice; the decoders here keep every generated
// token (as transformers does: the stop string stays in the sequence) and report the byte offset of
// the stop string in the decoded generated text so the API layer can cut the text before it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace infer::runtime {

// Turns token ids into text (the tokenizer's decode, without special-token cleanup). Incomplete
// UTF-8 at either end may come back as replacement characters; that only delays a match.
using Detokenizer = std::function<std::string(std::span<const int32_t>)>;

struct StopMatch {
  int index = -1;       // which stop string
  size_t offset = 0;    // byte offset of its first occurrence in the decoded generated text
};

class StopStringMatcher {
 public:
  StopStringMatcher(std::vector<std::string> stop_strings, Detokenizer detokenize);

  bool empty() const { return stops_.empty(); }

  // Called after each new token with all generated tokens so far. Decodes only a window of recent
  // tokens (each token carries at least one byte, so a stop string of L bytes ending in the newest
  // token lies within the last L + 1 tokens).
  std::optional<StopMatch> Check(std::span<const int32_t> generated) const;

 private:
  std::vector<std::string> stops_;
  Detokenizer detokenize_;
  size_t window_tokens_ = 0;
};

}  // namespace infer::runtime
