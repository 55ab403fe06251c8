#include "server/tokenizer/vocab_table.h"
#include "server/tokenizer/wordpiece.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/tokenizer/absl_compat.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer {

absl::StatusOr<std::unique_ptr<WordPieceModel>> WordPieceModel::Create(
    std::vector<std::pair<std::string, int64_t>> vocab, WordPieceOptions options,
    const std::string& source) {
  std::unique_ptr<WordPieceModel> m(new WordPieceModel());
  m->options_ = std::move(options);
  {
    VocabTable table;
    if (absl::Status st = BuildVocabTable(vocab, source, &table); !st.ok()) return st;
    m->vocab_ = std::move(table.to_id);
    m->vocab_r_ = std::move(table.to_token);
    m->max_id_ = table.max_id;
  }
  auto unk = m->vocab_.find(m->options_.unk_token);
  if (unk == m->vocab_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": unk_token '", m->options_.unk_token, "' is not in the vocabulary"));
  }
  m->unk_id_ = unk->second;
  return m;
}

std::optional<int32_t> WordPieceModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(AsAbsl(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* WordPieceModel::IdToToken(int32_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

void WordPieceModel::Tokenize(std::string_view text, std::vector<Token>* out) const {
  size_t chars = 0;
  for (size_t p = 0; p < text.size(); p = AdvanceChars(text, p, 1)) ++chars;
  if (chars > options_.max_input_chars_per_word) {
    out->push_back(Token{unk_id_, options_.unk_token, 0, text.size()});
    return;
  }
  const size_t first = out->size();
  std::string candidate;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.size();
    bool found = false;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate = options_.continuing_subword_prefix;
      candidate.append(text.substr(start, end - start));
      if (auto it = vocab_.find(candidate); it != vocab_.end()) {
        out->push_back(Token{it->second, candidate, start, end});
        found = true;
        break;
      }
      RetreatChars(text, &end, 1);
    }
    if (!found) {
      out->resize(first);
      out->push_back(Token{unk_id_, options_.unk_token, 0, text.size()});
      return;
    }
    start = end;
  }
}

std::string WordPieceDecoder::Piece(std::string_view token, size_t index) const {
  std::string piece;
  if (index == 0) {
    piece = token;
  } else if (token.substr(0, prefix_.size()) == prefix_) {
    piece = token.substr(prefix_.size());
  } else {
    piece.push_back(' ');
    piece.append(token);
  }
  if (!cleanup_) return piece;
  // HF's decoders::wordpiece::cleanup, applied in this order, one replace after another.
  static const std::pair<std::string_view, std::string_view> kSteps[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},   {" ,", ","},   {" ' ", "'"},  {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  // Most pieces contain none of the patterns: check before building new strings.
  bool any = false;
  for (size_t sp = piece.find(' '); sp != std::string::npos && !any; sp = piece.find(' ', sp + 1)) {
    for (const auto& [from, to] : kSteps) {
      if (std::string_view(piece).substr(sp, from.size()) == from) {
        any = true;
        break;
      }
    }
  }
  if (!any) return piece;
  for (const auto& [from, to] : kSteps) {
    piece = absl::StrReplaceAll(piece, {{AsAbsl(from), AsAbsl(to)}});
  }
  return piece;
}

}  // namespace infer::tokenizer
