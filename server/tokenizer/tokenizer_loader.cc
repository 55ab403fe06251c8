// Tokenizer::LoadFromFolder: picks the files, then finishes the pipeline the way transformers'
// AutoTokenizer (fast) does: added tokens from the files, special tokens the config names,
// the option overrides the *TokenizerFast classes apply, and the post-processor for legacy
// folders.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/json_util.h"
#include "server/tokenizer/legacy_files.h"
#include "server/tokenizer/normalizers.h"
#include "server/tokenizer/post_processor.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/tokenizer_config.h"
#include "server/tokenizer/tokenizer_json.h"

namespace infer::tokenizer {
namespace {

namespace fs = std::filesystem;

enum class Family { kUnknown, kGpt2, kRoberta, kBert };

// transformers' special-token attributes, in its order (it decides the ids of new tokens).
constexpr const char* kSpecialKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                        "pad_token", "cls_token", "mask_token"};

Family FamilyOfClass(const TokenizerConfig& c) {
  if (IsTokenizerClass(c, "GPT2Tokenizer")) return Family::kGpt2;
  if (IsTokenizerClass(c, "RobertaTokenizer")) return Family::kRoberta;
  for (const char* name : {"BertTokenizer", "DistilBertTokenizer", "ElectraTokenizer",
                           "MobileBertTokenizer", "SqueezeBertTokenizer", "LayoutLMTokenizer",
                           "FunnelTokenizer", "RetriBertTokenizer"}) {
    if (IsTokenizerClass(c, name)) return Family::kBert;
  }
  return Family::kUnknown;
}

AddedToken Special(const std::string& content, bool lstrip = false) {
  AddedToken t;
  t.content = content;
  t.special = true;
  t.normalized = false;
  t.lstrip = lstrip;
  return t;
}

// The defaults of the slow tokenizer classes' __init__, for keys the config does not set.
void ApplyClassDefaults(Family family, TokenizerConfig* c) {
  std::vector<std::pair<std::string, AddedToken>> defaults;
  switch (family) {
    case Family::kGpt2:
      defaults = {{"bos_token", Special("<|endoftext|>")},
                  {"eos_token", Special("<|endoftext|>")},
                  {"unk_token", Special("<|endoftext|>")}};
      break;
    case Family::kRoberta:
      defaults = {{"bos_token", Special("<s>")},   {"eos_token", Special("</s>")},
                  {"sep_token", Special("</s>")},  {"cls_token", Special("<s>")},
                  {"unk_token", Special("<unk>")}, {"pad_token", Special("<pad>")},
                  {"mask_token", Special("<mask>", /*lstrip=*/true)}};
      break;
    case Family::kBert:
      defaults = {{"unk_token", Special("[UNK]")}, {"sep_token", Special("[SEP]")},
                  {"pad_token", Special("[PAD]")}, {"cls_token", Special("[CLS]")},
                  {"mask_token", Special("[MASK]")}};
      break;
    case Family::kUnknown:
      break;
  }
  // A key written as null in the config means "no such token": only absent keys get defaults.
  for (auto& [key, tok] : defaults) {
    if (!c->special_tokens.contains(key) && !c->special_keys_seen.contains(key)) c->special_tokens[key] = tok;
  }
}

std::optional<int32_t> LookupId(const TokenizerParts& p, std::string_view content) {
  if (auto id = p.added.TokenToId(content)) return id;
  return p.model->TokenToId(content);
}

bool KnownId(const TokenizerParts& p, int64_t id) {
  if (id < 0 || id > INT32_MAX) return false;
  return p.added.Find(static_cast<int32_t>(id)) != nullptr ||
         p.model->IdToToken(static_cast<int32_t>(id)) != nullptr;
}

// Adds `tok` and checks that it lands on `declared_id` (HF assigns ids itself and only warns;
// a mismatch means the file does not describe the vocabulary the model was trained with).
absl::Status AddDeclared(TokenizerParts* p, const AddedToken& tok, int64_t declared_id,
                         const std::string& where) {
  std::optional<int32_t> id = p->added.Add(tok, *p->model);
  if (!id) {
    if (tok.content.empty()) return absl::InvalidArgumentError(where + ": added token with empty content");
    id = p->added.TokenToId(tok.content);  // an identical token was already there
  }
  if (id && *id != declared_id) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": added token '", tok.content,
                                                   "' declares id ", declared_id,
                                                   " but the vocabulary gives it id ", *id));
  }
  return absl::OkStatus();
}

// The *TokenizerFast constructors rebuild pipeline parts whose options disagree with the
// config (defaults included), e.g. BertTokenizerFast with do_lower_case.
void ApplyFastClassOverrides(Family family, const TokenizerConfig& c, TokenizerParts* p) {
  if (family == Family::kBert) {
    if (auto* bert = dynamic_cast<BertNormalizer*>(p->normalizer.get())) {
      BertNormalizerOptions o = bert->options();
      const bool lower = c.do_lower_case.value_or(true);
      std::optional<bool> strip;
      if (c.strip_accents_set) strip = c.strip_accents;
      const bool chinese = c.tokenize_chinese_chars.value_or(true);
      if (o.lowercase != lower || o.strip_accents != strip || o.handle_chinese_chars != chinese) {
        o.lowercase = lower;
        o.strip_accents = strip;
        o.handle_chinese_chars = chinese;
        p->normalizer = std::make_unique<BertNormalizer>(o);
      }
    }
  }
  if (family == Family::kGpt2 || family == Family::kRoberta) {
    const bool aps = c.add_prefix_space.value_or(false);
    if (auto* bl = dynamic_cast<ByteLevelPreTokenizer*>(p->pre_tokenizer.get())) bl->set_add_prefix_space(aps);
  }
  if (family == Family::kRoberta) {
    const bool aps = c.add_prefix_space.value_or(false);
    const bool trim = c.trim_offsets.value_or(true);
    if (auto* rp = dynamic_cast<RobertaProcessing*>(p->post_processor.get())) rp->set_options(trim, aps);
    if (auto* bp = dynamic_cast<ByteLevelPostProcessor*>(p->post_processor.get())) bp->set_options(trim, aps);
  }
}

absl::Status BuildLegacyPostProcessor(LegacyFlavor flavor, const TokenizerConfig& c,
                                      TokenizerParts* p) {
  auto named = [&](const char* key, const char* file) -> absl::StatusOr<NamedId> {
    auto it = c.special_tokens.find(key);
    if (it == c.special_tokens.end()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": no ", key, " is configured"));
    }
    std::optional<int32_t> id = LookupId(*p, it->second.content);
    if (!id) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, " '", it->second.content,
                                                     "' is not in the vocabulary"));
    }
    return NamedId{it->second.content, *id};
  };
  switch (flavor) {
    case LegacyFlavor::kGpt2: {
      if (c.add_bos_token.value_or(false)) {
        TOK_ASSIGN_OR_RETURN(NamedId bos, named("bos_token", "vocab.json"));
        using P = TemplateProcessing::Piece;
        std::vector<P> single = {{false, 0, bos.first, 0}, {true, 0, "", 0}};
        std::vector<P> pair = {{false, 0, bos.first, 0}, {true, 0, "", 0}, {true, 1, "", 1}};
        absl::flat_hash_map<std::string, TemplateProcessing::SpecialToken> st;
        st[bos.first] = {{bos.second}, {bos.first}};
        p->post_processor = std::make_unique<TemplateProcessing>(single, pair, std::move(st));
      } else {
        p->post_processor = std::make_unique<ByteLevelPostProcessor>(false, true);
      }
      return absl::OkStatus();
    }
    case LegacyFlavor::kRoberta: {
      TOK_ASSIGN_OR_RETURN(NamedId cls, named("cls_token", "vocab.json"));
      TOK_ASSIGN_OR_RETURN(NamedId sep, named("sep_token", "vocab.json"));
      p->post_processor = std::make_unique<RobertaProcessing>(
          cls, sep, c.trim_offsets.value_or(true), c.add_prefix_space.value_or(false));
      return absl::OkStatus();
    }
    case LegacyFlavor::kBert: {
      TOK_ASSIGN_OR_RETURN(NamedId cls, named("cls_token", "vocab.txt"));
      TOK_ASSIGN_OR_RETURN(NamedId sep, named("sep_token", "vocab.txt"));
      using P = TemplateProcessing::Piece;
      std::vector<P> single = {{false, 0, cls.first, 0}, {true, 0, "", 0}, {false, 0, sep.first, 0}};
      std::vector<P> pair = {{false, 0, cls.first, 0}, {true, 0, "", 0}, {false, 0, sep.first, 0},
                             {true, 1, "", 1},         {false, 0, sep.first, 1}};
      absl::flat_hash_map<std::string, TemplateProcessing::SpecialToken> st;
      st[cls.first] = {{cls.second}, {cls.first}};
      st[sep.first] = {{sep.second}, {sep.first}};
      p->post_processor = std::make_unique<TemplateProcessing>(single, pair, std::move(st));
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Without any config file, guess the roles of the usual special tokens.
void GuessSpecialIds(TokenizerParts* p) {
  auto set = [&](std::optional<int32_t>* slot, std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (slot->has_value()) return;
      if (p->added.IsSpecialContent(n)) *slot = p->added.TokenToId(n);
    }
  };
  SpecialTokenIds& s = p->special;
  set(&s.bos, {"<|endoftext|>", "<s>", "<|begin_of_text|>"});
  set(&s.eos, {"<|endoftext|>", "</s>", "<|end_of_text|>"});
  set(&s.unk, {"<unk>", "[UNK]", "<|endoftext|>"});
  set(&s.pad, {"<pad>", "[PAD]"});
  set(&s.cls, {"[CLS]", "<s>"});
  set(&s.sep, {"[SEP]", "</s>"});
  set(&s.mask, {"[MASK]", "<mask>"});
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromFolder(const std::string& dir) {
  if (!fs::is_directory(dir)) return absl::NotFoundError(absl::StrCat("tokenizer folder ", dir, " does not exist"));
  TOK_ASSIGN_OR_RETURN(TokenizerConfig config, ReadTokenizerConfig(dir));
  const bool has_json = fs::exists(fs::path(dir) / "tokenizer.json");
  const bool has_bpe = fs::exists(fs::path(dir) / "vocab.json") && fs::exists(fs::path(dir) / "merges.txt");
  const bool has_wp = fs::exists(fs::path(dir) / "vocab.txt");

  Family family = FamilyOfClass(config);
  if (!has_json && family == Family::kUnknown) family = has_bpe ? Family::kGpt2 : Family::kBert;
  if (!has_json && has_bpe && family == Family::kBert) family = Family::kGpt2;
  ApplyClassDefaults(family, &config);

  std::unique_ptr<TokenizerParts> parts;
  std::vector<std::pair<std::string, int64_t>> post_tokens;
  std::optional<LegacyFlavor> legacy;
  std::string source;
  if (has_json) {
    source = "tokenizer.json";
    TOK_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile((fs::path(dir) / "tokenizer.json").string(), source));
    TOK_ASSIGN_OR_RETURN(ParsedTokenizerJson parsed, ParseTokenizerJson(j, source));
    parts = std::move(parsed.parts);
    post_tokens = std::move(parsed.post_processor_tokens);
    for (const auto& [id, tok] : parsed.added_tokens) {
      TOK_RETURN_IF_ERROR(AddDeclared(parts.get(), tok, id, "tokenizer.json: added_tokens"));
    }
  } else if (has_bpe) {
    source = "vocab.json";
    LegacyFlavor f;
    TOK_ASSIGN_OR_RETURN(parts, LoadLegacyBpe(dir, config, &f));
    legacy = f;
  } else if (has_wp) {
    source = "vocab.txt";
    TOK_ASSIGN_OR_RETURN(parts, LoadLegacyWordPiece(dir, config));
    legacy = LegacyFlavor::kBert;
  } else {
    return absl::NotFoundError(absl::StrCat("no tokenizer.json, vocab.json + merges.txt or vocab.txt in ", dir));
  }

  // Which config tokens are special, as transformers decides it.
  absl::flat_hash_set<std::string> special_contents;
  for (const auto& [key, tok] : config.special_tokens) special_contents.insert(tok.content);
  for (const AddedToken& tok : config.additional_special_tokens) special_contents.insert(tok.content);

  for (auto [id, tok] : config.added_tokens_decoder) {
    tok.special = tok.special || special_contents.contains(tok.content);
    TOK_RETURN_IF_ERROR(AddDeclared(parts.get(), tok, id, "tokenizer_config.json: added_tokens_decoder"));
  }
  for (const auto& [content, id] : config.added_tokens_json) {
    if (parts->added.TokenToId(content)) continue;
    AddedToken tok;
    tok.content = content;
    tok.special = special_contents.contains(content);
    tok.normalized = !tok.special;
    TOK_RETURN_IF_ERROR(AddDeclared(parts.get(), tok, id, "added_tokens.json"));
  }
  // Legacy post-processors need their special tokens in the vocabulary files (or declared as
  // added tokens), not invented by the next step.
  if (legacy) TOK_RETURN_IF_ERROR(BuildLegacyPostProcessor(*legacy, config, parts.get()));
  std::vector<AddedToken> specials;
  for (const char* key : kSpecialKeys) {
    if (auto it = config.special_tokens.find(key); it != config.special_tokens.end()) specials.push_back(it->second);
  }
  for (const AddedToken& t : config.additional_special_tokens) specials.push_back(t);
  for (AddedToken tok : specials) {
    if (parts->added.TokenToId(tok.content)) continue;
    tok.special = true;
    parts->added.Add(tok, *parts->model);
  }

  if (config.has_config) ApplyFastClassOverrides(family, config, parts.get());
  for (const auto& [token, id] : post_tokens) {
    if (!KnownId(*parts, id)) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": post_processor: token '", token,
                                                     "' has id ", id,
                                                     ", which is not in the vocabulary"));
    }
  }
  parts->added.Refresh(*parts->model, parts->normalizer.get());

  SpecialTokenIds& s = parts->special;
  std::optional<int32_t>* slots[] = {&s.bos, &s.eos, &s.unk, &s.sep, &s.pad, &s.cls, &s.mask};
  for (size_t i = 0; i < std::size(kSpecialKeys); ++i) {
    if (auto it = config.special_tokens.find(kSpecialKeys[i]); it != config.special_tokens.end()) {
      *slots[i] = LookupId(*parts, it->second.content);
    }
  }
  if (!config.has_config && !config.has_special_tokens_map) GuessSpecialIds(parts.get());
  parts->clean_up_tokenization_spaces = config.clean_up_tokenization_spaces.value_or(false);
  return std::make_unique<Tokenizer>(std::move(parts));
}

}  // namespace infer::tokenizer
