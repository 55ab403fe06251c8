#include "server/tokenizer/decoders.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace infer::tokenizer {

const std::string* LookupToken(const TokenizerParts& p, int32_t id) {
  if (const AddedToken* t = p.added.Find(id)) return &t->content;
  return p.model->IdToToken(id);
}

std::string DecoderPiece(const TokenizerParts& p, std::string_view token, size_t index) {
  if (p.decoder) return p.decoder->Piece(token, index);
  std::string piece;
  if (index > 0) piece.push_back(' ');
  piece.append(token);
  return piece;
}

std::string CleanUpTokenizationSpaces(std::string_view text) {
  // One replace after another, in transformers' order.
  static const std::pair<const char*, const char*> kSteps[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  std::string out(text);
  for (const auto& [from, to] : kSteps) out = absl::StrReplaceAll(out, {{from, to}});
  return out;
}

}  // namespace infer::tokenizer
