#include "server/tokenizer/tokenizer_json.h"

#include "absl/strings/str_split.h"
#include "server/tokenizer/bpe.h"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/json_util.h"
#include "server/tokenizer/normalizers.h"
#include "server/tokenizer/post_processor.h"
#include "server/tokenizer/pre_tokenizers.h"
#include "server/tokenizer/wordpiece.h"

namespace infer::tokenizer {
namespace {

using json = nlohmann::json;

absl::StatusOr<std::string> TypeOf(const json& j, const JsonPath& at) {
  TOK_RETURN_IF_ERROR(RequireObject(j, at).status());
  return GetString(j, "type", at);
}

absl::Status Unsupported(const JsonPath& at, const std::string& kind, const std::string& type) {
  return at.Error("unsupported " + kind + " type '" + type + "'");
}

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const json& j, const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(std::string type, TypeOf(j, at));
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    TOK_ASSIGN_OR_RETURN(o.clean_text, GetBool(j, "clean_text", true, at));
    TOK_ASSIGN_OR_RETURN(o.handle_chinese_chars, GetBool(j, "handle_chinese_chars", true, at));
    TOK_ASSIGN_OR_RETURN(o.strip_accents, GetOptBool(j, "strip_accents", at));
    TOK_ASSIGN_OR_RETURN(o.lowercase, GetBool(j, "lowercase", true, at));
    return std::unique_ptr<Normalizer>(new BertNormalizer(o));
  }
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  if (type == "NFD") return std::unique_ptr<Normalizer>(new NfdNormalizer());
  if (type == "StripAccents") return std::unique_ptr<Normalizer>(new StripAccentsNormalizer());
  if (type == "Sequence") {
    TOK_ASSIGN_OR_RETURN(const json* list, RequireMember(j, "normalizers", at));
    if (!list->is_array()) return (at / "normalizers").Error("expected an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      TOK_ASSIGN_OR_RETURN(auto p, ParseNormalizer((*list)[i], (at / "normalizers")[i]));
      parts.push_back(std::move(p));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(parts)));
  }
  return Unsupported(at, "normalizer", type);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const json& j, const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(std::string type, TypeOf(j, at));
  if (type == "ByteLevel") {
    TOK_ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(j, "add_prefix_space", true, at));
    TOK_ASSIGN_OR_RETURN(bool use_regex, GetBool(j, "use_regex", true, at));
    TOK_RETURN_IF_ERROR(GetOptBool(j, "trim_offsets", at).status());
    return std::unique_ptr<PreTokenizer>(new ByteLevelPreTokenizer(add_prefix_space, use_regex));
  }
  if (type == "BertPreTokenizer") return std::unique_ptr<PreTokenizer>(new BertPreTokenizer());
  if (type == "Sequence") {
    TOK_ASSIGN_OR_RETURN(const json* list, RequireMember(j, "pretokenizers", at));
    if (!list->is_array()) return (at / "pretokenizers").Error("expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      TOK_ASSIGN_OR_RETURN(auto p, ParsePreTokenizer((*list)[i], (at / "pretokenizers")[i]));
      parts.push_back(std::move(p));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(parts)));
  }
  return Unsupported(at, "pre_tokenizer", type);
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseVocab(const json& model,
                                                                       const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(const json* vocab, RequireMember(model, "vocab", at));
  if (!vocab->is_object()) return (at / "vocab").Error(std::string("expected an object of token -> id, got ") + vocab->type_name());
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    TOK_ASSIGN_OR_RETURN(int64_t v, AsInt(id, at / "vocab" / token));
    out.emplace_back(token, v);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> ParseModel(const json& j, const JsonPath& at) {
  TOK_RETURN_IF_ERROR(RequireObject(j, at).status());
  TOK_ASSIGN_OR_RETURN(std::optional<std::string> type_opt, GetOptString(j, "type", at));
  // Old files have no "type": tell the models apart by their fields.
  std::string type = type_opt.value_or(j.contains("merges") ? "BPE" : "WordPiece");
  if (type == "BPE") {
    TOK_ASSIGN_OR_RETURN(auto vocab, ParseVocab(j, at));
    TOK_ASSIGN_OR_RETURN(const json* merges_json, RequireMember(j, "merges", at));
    const JsonPath mat = at / "merges";
    if (!merges_json->is_array()) return mat.Error("expected an array");
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(merges_json->size());
    for (size_t i = 0; i < merges_json->size(); ++i) {
      const json& m = (*merges_json)[i];
      if (m.is_string()) {
        // "a b"; HF skips "#version" lines and needs exactly one space.
        const std::string s = m.get<std::string>();
        if (s.rfind("#version", 0) == 0) continue;
        std::vector<std::string> parts = absl::StrSplit(s, ' ');
        if (parts.size() != 2) return mat[i].Error("merge '" + s + "' is not two tokens separated by one space");
        merges.emplace_back(parts[0], parts[1]);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        return mat[i].Error("expected \"a b\" or [\"a\", \"b\"], got " + m.dump());
      }
    }
    BpeOptions o;
    TOK_ASSIGN_OR_RETURN(o.unk_token, GetOptString(j, "unk_token", at));
    TOK_ASSIGN_OR_RETURN(o.continuing_subword_prefix, GetOptString(j, "continuing_subword_prefix", at));
    TOK_ASSIGN_OR_RETURN(o.end_of_word_suffix, GetOptString(j, "end_of_word_suffix", at));
    TOK_ASSIGN_OR_RETURN(o.fuse_unk, GetBool(j, "fuse_unk", false, at));
    TOK_ASSIGN_OR_RETURN(o.byte_fallback, GetBool(j, "byte_fallback", false, at));
    TOK_ASSIGN_OR_RETURN(o.ignore_merges, GetBool(j, "ignore_merges", false, at));
    if (auto it = j.find("dropout"); it != j.end() && !it->is_null()) {
      if (!it->is_number()) return (at / "dropout").Error("expected a number or null");
      if (it->get<double>() != 0.0) return (at / "dropout").Error("BPE dropout is not supported (it makes tokenization random)");
    }
    TOK_ASSIGN_OR_RETURN(auto model, BpeModel::Create(std::move(vocab), std::move(merges), o, at.file + ": model"));
    return std::unique_ptr<Model>(std::move(model));
  }
  if (type == "WordPiece") {
    TOK_ASSIGN_OR_RETURN(auto vocab, ParseVocab(j, at));
    WordPieceOptions o;
    TOK_ASSIGN_OR_RETURN(std::optional<std::string> unk, GetOptString(j, "unk_token", at));
    if (unk) o.unk_token = *unk;
    TOK_ASSIGN_OR_RETURN(std::optional<std::string> prefix, GetOptString(j, "continuing_subword_prefix", at));
    if (prefix) o.continuing_subword_prefix = *prefix;
    TOK_ASSIGN_OR_RETURN(std::optional<int64_t> max_chars, GetOptInt(j, "max_input_chars_per_word", at));
    if (max_chars) {
      if (*max_chars < 0) return (at / "max_input_chars_per_word").Error("must not be negative");
      o.max_input_chars_per_word = static_cast<size_t>(*max_chars);
    }
    TOK_ASSIGN_OR_RETURN(auto model, WordPieceModel::Create(std::move(vocab), o, at.file + ": model"));
    return std::unique_ptr<Model>(std::move(model));
  }
  return Unsupported(at, "model", type);
}

absl::StatusOr<NamedId> ParseNamedId(const json& j, const std::string& key, const JsonPath& at,
                                     std::vector<std::pair<std::string, int64_t>>* used) {
  TOK_ASSIGN_OR_RETURN(const json* v, RequireMember(j, key, at));
  if (!v->is_array() || v->size() != 2 || !(*v)[0].is_string()) {
    return (at / key).Error("expected [token, id], got " + v->dump());
  }
  TOK_ASSIGN_OR_RETURN(int64_t id, AsInt((*v)[1], (at / key)[1]));
  used->emplace_back((*v)[0].get<std::string>(), id);
  return NamedId{(*v)[0].get<std::string>(), static_cast<int32_t>(id)};
}

absl::StatusOr<std::vector<TemplateProcessing::Piece>> ParseTemplate(const json& j, bool allow_b,
                                                                     const JsonPath& at) {
  std::vector<TemplateProcessing::Piece> out;
  if (!j.is_array()) return at.Error("expected an array of template pieces");
  for (size_t i = 0; i < j.size(); ++i) {
    const json& p = j[i];
    const JsonPath pat = at[i];
    TemplateProcessing::Piece piece{false, 0, "", 0};
    if (p.is_object() && p.contains("Sequence")) {
      const json& s = p["Sequence"];
      TOK_ASSIGN_OR_RETURN(std::string id, GetString(s, "id", pat / "Sequence"));
      if (id != "A" && id != "B") return (pat / "Sequence" / "id").Error("expected \"A\" or \"B\"");
      if (id == "B" && !allow_b) return pat.Error("the single-sequence template cannot use $B");
      TOK_ASSIGN_OR_RETURN(std::optional<int64_t> type_id, GetOptInt(s, "type_id", pat / "Sequence"));
      piece = {true, id == "B" ? 1 : 0, "", static_cast<int32_t>(type_id.value_or(0))};
    } else if (p.is_object() && p.contains("SpecialToken")) {
      const json& s = p["SpecialToken"];
      TOK_ASSIGN_OR_RETURN(std::string id, GetString(s, "id", pat / "SpecialToken"));
      TOK_ASSIGN_OR_RETURN(std::optional<int64_t> type_id, GetOptInt(s, "type_id", pat / "SpecialToken"));
      piece = {false, 0, id, static_cast<int32_t>(type_id.value_or(0))};
    } else {
      return pat.Error("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " + p.dump());
    }
    out.push_back(std::move(piece));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(
    const json& j, const JsonPath& at, std::vector<std::pair<std::string, int64_t>>* used) {
  TOK_ASSIGN_OR_RETURN(std::string type, TypeOf(j, at));
  if (type == "ByteLevel") {
    TOK_ASSIGN_OR_RETURN(bool trim, GetBool(j, "trim_offsets", true, at));
    TOK_ASSIGN_OR_RETURN(bool aps, GetBool(j, "add_prefix_space", true, at));
    return std::unique_ptr<PostProcessor>(new ByteLevelPostProcessor(trim, aps));
  }
  if (type == "BertProcessing") {
    TOK_ASSIGN_OR_RETURN(NamedId sep, ParseNamedId(j, "sep", at, used));
    TOK_ASSIGN_OR_RETURN(NamedId cls, ParseNamedId(j, "cls", at, used));
    return std::unique_ptr<PostProcessor>(new BertProcessing(cls, sep));
  }
  if (type == "RobertaProcessing") {
    TOK_ASSIGN_OR_RETURN(NamedId sep, ParseNamedId(j, "sep", at, used));
    TOK_ASSIGN_OR_RETURN(NamedId cls, ParseNamedId(j, "cls", at, used));
    TOK_ASSIGN_OR_RETURN(bool trim, GetBool(j, "trim_offsets", true, at));
    TOK_ASSIGN_OR_RETURN(bool aps, GetBool(j, "add_prefix_space", true, at));
    return std::unique_ptr<PostProcessor>(new RobertaProcessing(cls, sep, trim, aps));
  }
  if (type == "TemplateProcessing") {
    TOK_ASSIGN_OR_RETURN(const json* single_j, RequireMember(j, "single", at));
    TOK_ASSIGN_OR_RETURN(const json* pair_j, RequireMember(j, "pair", at));
    TOK_ASSIGN_OR_RETURN(auto single, ParseTemplate(*single_j, false, at / "single"));
    TOK_ASSIGN_OR_RETURN(auto pair, ParseTemplate(*pair_j, true, at / "pair"));
    absl::flat_hash_map<std::string, TemplateProcessing::SpecialToken> specials;
    TOK_ASSIGN_OR_RETURN(const json* st, RequireMember(j, "special_tokens", at));
    const JsonPath sat = at / "special_tokens";
    if (!st->is_object()) return sat.Error("expected an object");
    for (const auto& [key, value] : st->items()) {
      const JsonPath kat = sat / key;
      TOK_RETURN_IF_ERROR(RequireObject(value, kat).status());
      TOK_ASSIGN_OR_RETURN(const json* ids, RequireMember(value, "ids", kat));
      TOK_ASSIGN_OR_RETURN(const json* tokens, RequireMember(value, "tokens", kat));
      if (!ids->is_array() || !tokens->is_array() || ids->size() != tokens->size()) {
        return kat.Error("'ids' and 'tokens' must be arrays of the same length");
      }
      TemplateProcessing::SpecialToken s;
      for (size_t i = 0; i < ids->size(); ++i) {
        TOK_ASSIGN_OR_RETURN(int64_t id, AsInt((*ids)[i], (kat / "ids")[i]));
        if (!(*tokens)[i].is_string()) return (kat / "tokens")[i].Error("expected a string");
        s.ids.push_back(static_cast<int32_t>(id));
        s.tokens.push_back((*tokens)[i].get<std::string>());
        used->emplace_back(s.tokens.back(), id);
      }
      specials.emplace(key, std::move(s));
    }
    for (const auto* tmpl : {&single, &pair}) {
      for (const auto& p : *tmpl) {
        if (!p.is_sequence && !specials.contains(p.special)) {
          return at.Error("template uses special token '" + p.special + "' missing from special_tokens");
        }
      }
    }
    return std::unique_ptr<PostProcessor>(new TemplateProcessing(std::move(single), std::move(pair), std::move(specials)));
  }
  if (type == "Sequence") {
    TOK_ASSIGN_OR_RETURN(const json* list, RequireMember(j, "processors", at));
    if (!list->is_array()) return (at / "processors").Error("expected an array");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      TOK_ASSIGN_OR_RETURN(auto p, ParsePostProcessor((*list)[i], (at / "processors")[i], used));
      parts.push_back(std::move(p));
    }
    return std::unique_ptr<PostProcessor>(new SequencePostProcessor(std::move(parts)));
  }
  return Unsupported(at, "post_processor", type);
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const json& j, const JsonPath& at) {
  TOK_ASSIGN_OR_RETURN(std::string type, TypeOf(j, at));
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "WordPiece") {
    TOK_ASSIGN_OR_RETURN(std::optional<std::string> prefix, GetOptString(j, "prefix", at));
    TOK_ASSIGN_OR_RETURN(bool cleanup, GetBool(j, "cleanup", true, at));
    return std::unique_ptr<Decoder>(new WordPieceDecoder(prefix.value_or("##"), cleanup));
  }
  return Unsupported(at, "decoder", type);
}

}  // namespace

absl::StatusOr<ParsedTokenizerJson> ParseTokenizerJson(const json& j, const std::string& file) {
  const JsonPath root{file, ""};
  TOK_RETURN_IF_ERROR(RequireObject(j, root).status());
  TOK_ASSIGN_OR_RETURN(std::optional<std::string> version, GetOptString(j, "version", root));
  if (version && *version != "1.0") return (root / "version").Error("unknown tokenizer version '" + *version + "'");

  ParsedTokenizerJson out;
  out.parts = std::make_unique<TokenizerParts>();
  TokenizerParts& p = *out.parts;

  TOK_ASSIGN_OR_RETURN(const json* model, RequireMember(j, "model", root));
  TOK_ASSIGN_OR_RETURN(p.model, ParseModel(*model, root / "model"));
  if (auto it = j.find("normalizer"); it != j.end() && !it->is_null()) {
    TOK_ASSIGN_OR_RETURN(p.normalizer, ParseNormalizer(*it, root / "normalizer"));
  }
  if (auto it = j.find("pre_tokenizer"); it != j.end() && !it->is_null()) {
    TOK_ASSIGN_OR_RETURN(p.pre_tokenizer, ParsePreTokenizer(*it, root / "pre_tokenizer"));
  }
  if (auto it = j.find("post_processor"); it != j.end() && !it->is_null()) {
    TOK_ASSIGN_OR_RETURN(p.post_processor,
                         ParsePostProcessor(*it, root / "post_processor", &out.post_processor_tokens));
  }
  if (auto it = j.find("decoder"); it != j.end() && !it->is_null()) {
    TOK_ASSIGN_OR_RETURN(p.decoder, ParseDecoder(*it, root / "decoder"));
  }
  if (auto it = j.find("added_tokens"); it != j.end() && !it->is_null()) {
    const JsonPath at = root / "added_tokens";
    if (!it->is_array()) return at.Error("expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      const JsonPath tat = at[i];
      TOK_RETURN_IF_ERROR(RequireObject(t, tat).status());
      TOK_ASSIGN_OR_RETURN(const json* id_j, RequireMember(t, "id", tat));
      TOK_ASSIGN_OR_RETURN(int64_t id, AsInt(*id_j, tat / "id"));
      if (id < 0) return (tat / "id").Error("negative id");
      AddedToken tok;
      TOK_ASSIGN_OR_RETURN(tok.content, GetString(t, "content", tat));
      TOK_ASSIGN_OR_RETURN(tok.single_word, GetBool(t, "single_word", false, tat));
      TOK_ASSIGN_OR_RETURN(tok.lstrip, GetBool(t, "lstrip", false, tat));
      TOK_ASSIGN_OR_RETURN(tok.rstrip, GetBool(t, "rstrip", false, tat));
      TOK_ASSIGN_OR_RETURN(tok.normalized, GetBool(t, "normalized", true, tat));
      TOK_ASSIGN_OR_RETURN(tok.special, GetBool(t, "special", false, tat));
      out.added_tokens.emplace_back(id, std::move(tok));
    }
  }
  return out;
}

}  // namespace infer::tokenizer
