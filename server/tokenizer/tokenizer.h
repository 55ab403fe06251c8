// Hugging Face-compatible tokenizers (byte-level BPE as in GPT-2/RoBERTa, WordPiece as in
// BERT/DistilBERT) read straight from model folders.
//
// Text handling contract:
// - Input bytes that are not valid UTF-8 are first replaced by U+FFFD, one per maximal invalid
//   subpart (what Python's bytes.decode("utf-8", errors="replace") does). All offsets are BYTE
//   offsets into that sanitized text; for valid UTF-8 input it is the input itself.
// - Offsets equal Hugging Face's character offsets after conversion (char index -> byte index);
//   tokens added by the post-processor have (0, 0). For pairs, the offsets of the second
//   sequence refer to the second text, as in HF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::tokenizer {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // segment per token (0/1); zeros for single texts
  std::vector<std::string> tokens;  // the vocabulary strings (or matched added-token text)
  std::vector<std::pair<size_t, size_t>> offsets;  // byte spans [begin, end); (0,0) for specials
  std::vector<uint8_t> special_mask;  // 1 for tokens added by the post-processor
  std::vector<int32_t> sequence_ids;  // 0 / 1: which input text a token comes from; -1 special
  size_t num_truncated = 0;           // tokens dropped by truncation
  // HF refuses only_first / only_second when that text is too short to reach max_length; we
  // then leave the encoding untruncated and set this flag.
  bool truncation_impossible = false;

  size_t size() const { return ids.size(); }
};

// Truncation as HF's, stride 0, from the right. The special tokens the post-processor adds
// count towards max_length when add_special_tokens is true.
struct TruncationOptions {
  enum class Strategy {
    kLongestFirst,  // pairs: the longer sequence loses tokens first (HF's default)
    kOnlyFirst,     // only the first text is shortened
    kOnlySecond,    // only the second text is shortened
  };
  size_t max_length = 0;  // 0 = no truncation
  Strategy strategy = Strategy::kLongestFirst;
};

struct SpecialTokenIds {
  std::optional<int32_t> bos, eos, pad, unk, cls, sep, mask;
};

struct TokenizerParts;  // the pipeline stages; see tokenizer_parts.h

class Tokenizer {
 public:
  // Reads `dir`/tokenizer.json; without it vocab.json + merges.txt (byte-level BPE, GPT-2 or
  // RoBERTa flavour by tokenizer_config.json's tokenizer_class), else vocab.txt (WordPiece).
  // tokenizer_config.json and special_tokens_map.json, when present, name the special tokens
  // and options such as do_lower_case, add_prefix_space and clean_up_tokenization_spaces.
  // Malformed files give INVALID_ARGUMENT naming the file and the problem; a folder with no
  // tokenizer files gives NOT_FOUND.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromFolder(const std::string& dir);

  explicit Tokenizer(std::unique_ptr<TokenizerParts> parts);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Thread-safe (the BPE cache is internally locked).
  Encoding Encode(std::string_view text, bool add_special_tokens = true,
                  const TruncationOptions& truncation = {}) const;
  // An empty `b` encodes `a` alone, as transformers does.
  Encoding EncodePair(std::string_view a, std::string_view b, bool add_special_tokens = true,
                      const TruncationOptions& truncation = {}) const;

  // Like transformers' decode(): the tokenizer's decoder, then the clean-up of spaces before
  // punctuation when `clean_up_tokenization_spaces` (default: as tokenizer_config.json says)
  // is on. Unknown ids are skipped.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = false,
                     std::optional<bool> clean_up_tokenization_spaces = std::nullopt) const;

  // The bytes this token contributes when streamed: byte-level BPE after the byte decoder;
  // WordPiece the piece without "##", or with a leading space when it starts a word.
  std::string TokenBytes(int32_t id) const;

  // One past the largest id (model vocabulary and added tokens).
  int32_t vocab_size() const;
  std::optional<int32_t> TokenToId(std::string_view token) const;
  std::string IdToToken(int32_t id) const;  // "" for unknown ids

  const SpecialTokenIds& special_token_ids() const;
  std::optional<int32_t> bos() const { return special_token_ids().bos; }
  std::optional<int32_t> eos() const { return special_token_ids().eos; }
  std::optional<int32_t> pad() const { return special_token_ids().pad; }
  std::optional<int32_t> unk() const { return special_token_ids().unk; }
  std::optional<int32_t> cls() const { return special_token_ids().cls; }
  std::optional<int32_t> sep() const { return special_token_ids().sep; }
  std::optional<int32_t> mask() const { return special_token_ids().mask; }
  // True for added tokens marked special (what skip_special_tokens drops).
  bool IsSpecial(int32_t id) const;

  // Number of tokens the post-processor adds to a single text or a pair.
  size_t NumSpecialTokensToAdd(bool pair) const;

  const TokenizerParts& parts() const { return *parts_; }

 private:
  std::unique_ptr<TokenizerParts> parts_;
};

// Streams decoded text token by token. Push(id) returns only text that is final: complete,
// valid UTF-8 (a character split across byte-level tokens is held back until it completes)
// and, when clean_up_tokenization_spaces is on, past any place a later token could still change.
// Finish() flushes the rest (invalid leftovers become U+FFFD). The concatenation of everything
// returned equals tokenizer.Decode(all ids) with the same skip_special_tokens. The tokenizer must
// outlive the decoder; one decoder per stream, not thread-safe.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string Push(int32_t id);
  std::string Finish();

 private:
  std::string Emit(bool final);

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  size_t pieces_ = 0;    // tokens decoded so far (the WordPiece decoder treats the first apart)
  std::string pending_;  // decoded bytes not yet returned
};

}  // namespace infer::tokenizer
