// StreamDecoder: incremental decoding that never emits text a later token could change.
//
// Decode(ids) is Clean(Sanitize(piece_0 + piece_1 + ...)). We keep the pieces not yet emitted
// and cut the longest prefix P such that
//  - P does not end inside a character that more bytes could complete (Sanitize(P) is then a
//    prefix of Sanitize of anything that follows), and
//  - with clean-up on, the last kCleanUpMaxPattern-1 bytes of P hold no space: every clean-up
//    pattern starts with a space, so no pattern can straddle the cut and
//    Clean(P + rest) == Clean(P) + Clean(rest).
// Both conditions already hold for what was emitted before, so emitting piecewise yields
// exactly Decode(all ids).
#include "server/tokenizer/decoders.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::Push(int32_t id) {
  const TokenizerParts& p = tokenizer_.parts();
  const std::string* token = LookupToken(p, id);
  if (token == nullptr) return "";
  if (skip_special_tokens_ && p.added.IsSpecialContent(*token)) return "";
  pending_ += DecoderPiece(p, *token, pieces_++);
  return Emit(false);
}

std::string StreamDecoder::Finish() { return Emit(true); }

std::string StreamDecoder::Emit(bool final) {
  const bool clean = tokenizer_.parts().clean_up_tokenization_spaces;
  size_t cut = pending_.size();
  if (!final) {
    cut -= IncompleteUtf8Tail(pending_);
    if (clean) {
      constexpr size_t kWindow = kCleanUpMaxPattern - 1;
      while (cut > 0) {
        const size_t from = cut >= kWindow ? cut - kWindow : 0;
        const size_t space = pending_.rfind(' ', cut - 1);
        if (space == std::string::npos || space < from) break;
        cut = space;  // cut before the space and look again
      }
    }
  }
  if (cut == 0) return "";
  std::string text = SanitizeUtf8(std::string_view(pending_).substr(0, cut));
  pending_.erase(0, cut);
  return clean ? CleanUpTokenizationSpaces(text) : text;
}

}  // namespace infer::tokenizer
