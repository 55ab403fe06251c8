#include "server/tokenizer/tokenizer_config.h"

#include <algorithm>
#include <filesystem>

#include "server/tokenizer/json_util.h"

namespace infer::tokenizer {
namespace {

constexpr const char* kSpecialKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                        "pad_token", "cls_token", "mask_token"};

// A special token is written either as a string or as an AddedToken object.
absl::StatusOr<std::optional<AddedToken>> ParseTokenValue(const nlohmann::json& v, bool special,
                                                          const JsonPath& at) {
  if (v.is_null()) return std::optional<AddedToken>();
  AddedToken t;
  t.special = special;
  t.normalized = !special;  // tokenizers' default for AddedToken(content, special)
  if (v.is_string()) {
    t.content = v.get<std::string>();
    return std::optional<AddedToken>(t);
  }
  if (!v.is_object()) return at.Error(std::string("expected a string or an object, got ") + v.type_name());
  TOK_ASSIGN_OR_RETURN(t.content, GetString(v, "content", at));
  TOK_ASSIGN_OR_RETURN(t.single_word, GetBool(v, "single_word", false, at));
  TOK_ASSIGN_OR_RETURN(t.lstrip, GetBool(v, "lstrip", false, at));
  TOK_ASSIGN_OR_RETURN(t.rstrip, GetBool(v, "rstrip", false, at));
  TOK_ASSIGN_OR_RETURN(t.special, GetBool(v, "special", special, at));
  TOK_ASSIGN_OR_RETURN(t.normalized, GetBool(v, "normalized", !t.special, at));
  return std::optional<AddedToken>(t);
}

absl::Status ReadSpecialTokens(const nlohmann::json& j, const JsonPath& at, TokenizerConfig* c) {
  for (const char* key : kSpecialKeys) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    c->special_keys_seen.insert(key);
    TOK_ASSIGN_OR_RETURN(std::optional<AddedToken> t, ParseTokenValue(*it, true, at / key));
    if (t) {
      c->special_tokens[key] = *t;
    } else {
      c->special_tokens.erase(key);
    }
  }
  if (auto it = j.find("additional_special_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return (at / "additional_special_tokens").Error("expected an array");
    c->additional_special_tokens.clear();
    for (size_t i = 0; i < it->size(); ++i) {
      TOK_ASSIGN_OR_RETURN(std::optional<AddedToken> t,
                           ParseTokenValue((*it)[i], true, (at / "additional_special_tokens")[i]));
      if (t) c->additional_special_tokens.push_back(*t);
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsTokenizerClass(const TokenizerConfig& c, std::string_view name) {
  std::string_view cls = c.tokenizer_class;
  if (cls.size() > 4 && cls.substr(cls.size() - 4) == "Fast") cls.remove_suffix(4);
  return cls == name;
}

absl::StatusOr<TokenizerConfig> ReadTokenizerConfig(const std::string& dir) {
  namespace fs = std::filesystem;
  TokenizerConfig c;
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    c.has_config = true;
    TOK_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(config_path.string(), "tokenizer_config.json"));
    const JsonPath at{"tokenizer_config.json", ""};
    TOK_RETURN_IF_ERROR(RequireObject(j, at).status());
    TOK_ASSIGN_OR_RETURN(std::optional<std::string> cls, GetOptString(j, "tokenizer_class", at));
    c.tokenizer_class = cls.value_or("");
    TOK_ASSIGN_OR_RETURN(c.do_lower_case, GetOptBool(j, "do_lower_case", at));
    TOK_ASSIGN_OR_RETURN(c.tokenize_chinese_chars, GetOptBool(j, "tokenize_chinese_chars", at));
    TOK_ASSIGN_OR_RETURN(c.add_prefix_space, GetOptBool(j, "add_prefix_space", at));
    TOK_ASSIGN_OR_RETURN(c.trim_offsets, GetOptBool(j, "trim_offsets", at));
    TOK_ASSIGN_OR_RETURN(c.add_bos_token, GetOptBool(j, "add_bos_token", at));
    TOK_ASSIGN_OR_RETURN(c.clean_up_tokenization_spaces,
                         GetOptBool(j, "clean_up_tokenization_spaces", at));
    if (j.contains("strip_accents")) {
      c.strip_accents_set = true;
      TOK_ASSIGN_OR_RETURN(c.strip_accents, GetOptBool(j, "strip_accents", at));
    }
    TOK_RETURN_IF_ERROR(ReadSpecialTokens(j, at, &c));
    if (auto it = j.find("added_tokens_decoder"); it != j.end() && !it->is_null()) {
      const JsonPath dat = at / "added_tokens_decoder";
      if (!it->is_object()) return dat.Error("expected an object of id -> token");
      for (const auto& [key, value] : it->items()) {
        int64_t id = -1;
        try {
          size_t used = 0;
          id = std::stoll(key, &used);
          if (used != key.size()) id = -1;
        } catch (...) {
        }
        if (id < 0 || id > INT32_MAX) return dat.Error("key '" + key + "' is not a valid token id");
        if (!value.is_object()) return (dat / key).Error("expected an AddedToken object");
        TOK_ASSIGN_OR_RETURN(std::optional<AddedToken> t, ParseTokenValue(value, false, dat / key));
        c.added_tokens_decoder.emplace_back(id, *t);
      }
      std::sort(c.added_tokens_decoder.begin(), c.added_tokens_decoder.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
  }
  const fs::path map_path = fs::path(dir) / "special_tokens_map.json";
  if (fs::exists(map_path)) {
    c.has_special_tokens_map = true;
    TOK_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(map_path.string(), "special_tokens_map.json"));
    const JsonPath at{"special_tokens_map.json", ""};
    TOK_RETURN_IF_ERROR(RequireObject(j, at).status());
    TOK_RETURN_IF_ERROR(ReadSpecialTokens(j, at, &c));
  }
  const fs::path added_path = fs::path(dir) / "added_tokens.json";
  if (fs::exists(added_path)) {
    TOK_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(added_path.string(), "added_tokens.json"));
    const JsonPath at{"added_tokens.json", ""};
    TOK_RETURN_IF_ERROR(RequireObject(j, at).status());
    for (const auto& [key, value] : j.items()) {
      TOK_ASSIGN_OR_RETURN(int64_t id, AsInt(value, at / key));
      c.added_tokens_json.emplace_back(key, id);
    }
    std::sort(c.added_tokens_json.begin(), c.added_tokens_json.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
  }
  return c;
}

}  // namespace infer::tokenizer
