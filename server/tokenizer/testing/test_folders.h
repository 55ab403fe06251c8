// Helpers for the tokenizer tests (tests/tokenizer_*_test.cc): throw-away model folders with
// hand-written files. Header-only and outside the engine library.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>
#include <algorithm>

#include "nlohmann/json.hpp"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/utf8.h"

namespace infer::tokenizer::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tokenizer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  void Write(const std::string& name, const std::string& content) const {
    std::ofstream out(path_ / name, std::ios::binary);
    out << content;
  }
  void WriteJson(const std::string& name, const nlohmann::json& j) const { Write(name, j.dump()); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The printable stand-in of every byte of `s`, i.e. how a byte-level vocabulary spells it.
inline std::string ByteLevelSpelling(const std::string& s) {
  std::string out;
  for (unsigned char b : s) AppendUtf8(ByteToChar(b), &out);
  return out;
}

// A byte-level BPE tokenizer.json: the 256 byte symbols (ids 0..255 in byte order), then one
// id per merge result, plus the given added tokens.
inline nlohmann::json ByteLevelTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges,
                                             bool add_prefix_space = false) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    AppendUtf8(ByteToChar(static_cast<uint8_t>(b)), &s);
    vocab[s] = b;
  }
  nlohmann::json merges_json = nlohmann::json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    const std::string la = ByteLevelSpelling(a), lb = ByteLevelSpelling(b);
    merges_json.push_back(la + " " + lb);
    if (!vocab.contains(la + lb)) vocab[la + lb] = next++;
  }
  return {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                 {"merges", merges_json}}},
  };
}

inline nlohmann::json AddedTokenJson(int id, const std::string& content, bool special,
                                     bool normalized = false, bool lstrip = false, bool rstrip = false,
                                     bool single_word = false) {
  return {{"id", id}, {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

// A BERT-style tokenizer.json over `vocab` (ids in order).
inline nlohmann::json WordPieceTokenizerJson(const std::vector<std::string>& vocab, bool lowercase = true) {
  nlohmann::json v = nlohmann::json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  nlohmann::json added = nlohmann::json::array();
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    auto it = std::find(vocab.begin(), vocab.end(), s);
    if (it != vocab.end()) added.push_back(AddedTokenJson(static_cast<int>(it - vocab.begin()), s, true));
  }
  const int cls = static_cast<int>(std::find(vocab.begin(), vocab.end(), "[CLS]") - vocab.begin());
  const int sep = static_cast<int>(std::find(vocab.begin(), vocab.end(), "[SEP]") - vocab.begin());
  auto seq = [](const char* id, int type) { return nlohmann::json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  auto spec = [](const char* id, int type) { return nlohmann::json{{"SpecialToken", {{"id", id}, {"type_id", type}}}}; };
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                      {"strip_accents", nullptr}, {"lowercase", lowercase}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", {spec("[CLS]", 0), seq("A", 0), spec("[SEP]", 0)}},
                          {"pair", {spec("[CLS]", 0), seq("A", 0), spec("[SEP]", 0), seq("B", 1), spec("[SEP]", 1)}},
                          {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {cls}}, {"tokens", {"[CLS]"}}}},
                                              {"[SEP]", {{"id", "[SEP]"}, {"ids", {sep}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", v}}},
  };
}

}  // namespace infer::tokenizer::testing
