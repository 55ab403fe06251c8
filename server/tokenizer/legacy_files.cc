#include "server/tokenizer/legacy_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/tokenizer/bpe.h"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/json_util.h"
#include "server/tokenizer/normalizers.h"
#include "server/tokenizer/pre_tokenizers.h"
#include "server/tokenizer/utf8.h"
#include "server/tokenizer/wordpiece.h"

namespace infer::tokenizer {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Lines as Python's text mode sees them ("\r\n" -> "\n"), without the newline.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string& l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  }
  return lines;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenizerParts>> LoadLegacyBpe(const std::string& dir,
                                                              const TokenizerConfig& config,
                                                              LegacyFlavor* flavor) {
  *flavor = IsTokenizerClass(config, "RobertaTokenizer") ? LegacyFlavor::kRoberta : LegacyFlavor::kGpt2;
  TOK_ASSIGN_OR_RETURN(nlohmann::json vocab_json,
                       ReadJsonFile((fs::path(dir) / "vocab.json").string(), "vocab.json"));
  const JsonPath vat{"vocab.json", ""};
  if (!vocab_json.is_object()) return vat.Error("expected an object of token -> id");
  std::vector<std::pair<std::string, int64_t>> vocab;
  for (const auto& [token, id] : vocab_json.items()) {
    TOK_ASSIGN_OR_RETURN(int64_t v, AsInt(id, vat / token));
    vocab.emplace_back(token, v);
  }
  TOK_ASSIGN_OR_RETURN(std::string merges_text, ReadFile(fs::path(dir) / "merges.txt"));
  if (!IsValidUtf8(merges_text)) return absl::InvalidArgumentError("merges.txt: not valid UTF-8");
  std::vector<std::pair<std::string, std::string>> merges;
  const std::vector<std::string> lines = Lines(merges_text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0 && lines[i].rfind("#version", 0) == 0) continue;
    if (lines[i].empty()) continue;
    std::vector<std::string> parts = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("merges.txt: line ", i + 1, " ('", lines[i],
                                                     "') is not two tokens separated by a space"));
    }
    merges.emplace_back(parts[0], parts[1]);
  }
  auto parts = std::make_unique<TokenizerParts>();
  TOK_ASSIGN_OR_RETURN(auto model, BpeModel::Create(std::move(vocab), std::move(merges), BpeOptions{},
                                                    "vocab.json/merges.txt"));
  parts->model = std::move(model);
  parts->pre_tokenizer =
      std::make_unique<ByteLevelPreTokenizer>(config.add_prefix_space.value_or(false), true);
  parts->decoder = std::make_unique<ByteLevelDecoder>();
  return parts;
}

absl::StatusOr<std::unique_ptr<TokenizerParts>> LoadLegacyWordPiece(const std::string& dir,
                                                                    const TokenizerConfig& config) {
  TOK_ASSIGN_OR_RETURN(std::string text, ReadFile(fs::path(dir) / "vocab.txt"));
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("vocab.txt: not valid UTF-8");
  std::vector<std::pair<std::string, int64_t>> vocab;
  const std::vector<std::string> lines = Lines(text);
  for (size_t i = 0; i < lines.size(); ++i) vocab.emplace_back(lines[i], static_cast<int64_t>(i));
  WordPieceOptions o;
  if (auto it = config.special_tokens.find("unk_token"); it != config.special_tokens.end()) {
    o.unk_token = it->second.content;
  }
  auto parts = std::make_unique<TokenizerParts>();
  TOK_ASSIGN_OR_RETURN(auto model, WordPieceModel::Create(std::move(vocab), o, "vocab.txt"));
  parts->model = std::move(model);
  BertNormalizerOptions n;
  n.clean_text = true;
  n.handle_chinese_chars = config.tokenize_chinese_chars.value_or(true);
  n.strip_accents = config.strip_accents;
  n.lowercase = config.do_lower_case.value_or(true);
  parts->normalizer = std::make_unique<BertNormalizer>(n);
  parts->pre_tokenizer = std::make_unique<BertPreTokenizer>();
  parts->decoder = std::make_unique<WordPieceDecoder>("##", true);
  return parts;
}

}  // namespace infer::tokenizer
