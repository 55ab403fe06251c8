#include "server/tokenizer/tokenizer.h"

#include <algorithm>

#include "server/tokenizer/decoders.h"
#include "server/tokenizer/tokenizer_parts.h"
#include "server/tokenizer/truncation.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {
namespace {

// One text through added-token extraction, normalizer, pre-tokenizer and model. Offsets are
// bytes of `text`.
Encoding EncodeSequence(const TokenizerParts& p, std::string_view text, int32_t type_id) {
  PreTokenized pre = p.added.ExtractAndNormalize(text, p.normalizer.get());
  if (p.pre_tokenizer) p.pre_tokenizer->PreTokenize(&pre);
  Encoding enc;
  std::vector<Token> tokens;
  for (Split& split : pre) {
    if (!split.tokens) {
      tokens.clear();
      p.model->Tokenize(split.normalized.get(), &tokens);
      split.tokens = std::move(tokens);
      tokens = {};
    }
    for (Token& t : *split.tokens) {
      enc.ids.push_back(t.id);
      enc.offsets.push_back(split.normalized.OriginalSpan(t.begin, t.end));
      enc.tokens.push_back(std::move(t.value));
    }
  }
  enc.type_ids.assign(enc.ids.size(), type_id);
  enc.special_mask.assign(enc.ids.size(), 0);
  enc.sequence_ids.assign(enc.ids.size(), type_id);
  return enc;
}

Encoding Concat(std::vector<EncodingPart>& parts) {
  Encoding out;
  for (EncodingPart& part : parts) {
    Encoding& e = part.enc;
    out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
    out.type_ids.insert(out.type_ids.end(), e.type_ids.begin(), e.type_ids.end());
    out.offsets.insert(out.offsets.end(), e.offsets.begin(), e.offsets.end());
    out.special_mask.insert(out.special_mask.end(), e.special_mask.begin(), e.special_mask.end());
    out.sequence_ids.insert(out.sequence_ids.end(), e.sequence_ids.begin(), e.sequence_ids.end());
    std::move(e.tokens.begin(), e.tokens.end(), std::back_inserter(out.tokens));
    out.num_truncated += e.num_truncated;
    out.truncation_impossible = out.truncation_impossible || e.truncation_impossible;
  }
  return out;
}

// HF's post_process: truncation (leaving room for the special tokens), then the
// post-processor, then concatenation.
Encoding PostProcess(const TokenizerParts& p, std::vector<EncodingPart> parts,
                     bool add_special_tokens, const TruncationOptions& truncation) {
  const bool pair = parts.size() == 2;
  if (truncation.max_length > 0) {
    const size_t added = p.post_processor ? p.post_processor->AddedTokens(pair) : 0;
    size_t max_length = truncation.max_length;
    bool skip = false;
    if (add_special_tokens && added > 0) {
      // HF computes max_length - added in unsigned arithmetic; when the budget is smaller than
      // the special tokens the subtraction wraps and nothing is truncated.
      if (max_length < added) skip = true;
      max_length -= std::min(max_length, added);
    }
    if (!skip) {
      Truncate(&parts[0].enc, pair ? &parts[1].enc : nullptr, max_length, truncation.strategy);
    }
  }
  if (p.post_processor) {
    for (size_t i = 0; i < parts.size(); ++i) {
      parts[i].enc.type_ids.assign(parts[i].enc.size(), static_cast<int32_t>(i));
    }
    p.post_processor->ProcessParts(&parts, add_special_tokens);
  }
  return Concat(parts);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerParts> parts) : parts_(std::move(parts)) {}
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::Encode(std::string_view text, bool add_special_tokens,
                           const TruncationOptions& truncation) const {
  const std::string clean = SanitizeUtf8(text);
  std::vector<EncodingPart> parts;
  parts.push_back(EncodingPart{EncodeSequence(*parts_, clean, 0), clean});
  return PostProcess(*parts_, std::move(parts), add_special_tokens, truncation);
}

Encoding Tokenizer::EncodePair(std::string_view a, std::string_view b, bool add_special_tokens,
                               const TruncationOptions& truncation) const {
  // transformers treats an empty second text as no second text (`if text_pair` is falsy).
  if (b.empty()) return Encode(a, add_special_tokens, truncation);
  const std::string clean_a = SanitizeUtf8(a);
  const std::string clean_b = SanitizeUtf8(b);
  std::vector<EncodingPart> parts;
  parts.push_back(EncodingPart{EncodeSequence(*parts_, clean_a, 0), clean_a});
  parts.push_back(EncodingPart{EncodeSequence(*parts_, clean_b, 1), clean_b});
  return PostProcess(*parts_, std::move(parts), add_special_tokens, truncation);
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens,
                              std::optional<bool> clean_up_tokenization_spaces) const {
  std::string bytes;
  size_t index = 0;
  for (int32_t id : ids) {
    const std::string* token = LookupToken(*parts_, id);
    if (token == nullptr) continue;
    if (skip_special_tokens && parts_->added.IsSpecialContent(*token)) continue;
    bytes += DecoderPiece(*parts_, *token, index++);
  }
  std::string text = SanitizeUtf8(bytes);
  if (clean_up_tokenization_spaces.value_or(parts_->clean_up_tokenization_spaces)) {
    text = CleanUpTokenizationSpaces(text);
  }
  return text;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  const std::string* token = LookupToken(*parts_, id);
  if (token == nullptr) return "";
  if (parts_->decoder) return parts_->decoder->StreamPiece(*token);
  return DecoderPiece(*parts_, *token, 1);
}

int32_t Tokenizer::vocab_size() const {
  return std::max(parts_->model->MaxId(), parts_->added.MaxId()) + 1;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto id = parts_->added.TokenToId(token)) return id;
  return parts_->model->TokenToId(token);
}

std::string Tokenizer::IdToToken(int32_t id) const {
  const std::string* t = LookupToken(*parts_, id);
  return t ? *t : std::string();
}

const SpecialTokenIds& Tokenizer::special_token_ids() const { return parts_->special; }

bool Tokenizer::IsSpecial(int32_t id) const {
  const std::string* t = LookupToken(*parts_, id);
  return t != nullptr && parts_->added.IsSpecialContent(*t);
}

size_t Tokenizer::NumSpecialTokensToAdd(bool pair) const {
  return parts_->post_processor ? parts_->post_processor->AddedTokens(pair) : 0;
}

}  // namespace infer::tokenizer
