// infer-cli: runs the engine's tasks against a Hugging Face model folder, locally, for debugging
// and benchmarks. `infer-cli --help` for usage.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kernels/backend.h"
#include "nlohmann/json.hpp"
#include "server/tasks/task_model.h"
#include "server/util/cli_args.h"
#include "server/util/status_macros.h"

namespace infer::tools {
namespace {

constexpr char kUsage[] = R"(usage: infer-cli COMMAND MODEL_FOLDER [ARGS] [FLAGS]

commands:
  info      MODEL                         model facts as JSON
  tokenize  MODEL TEXT [--pair TEXT]      token ids, tokens and byte offsets
  generate  MODEL PROMPT                  streams the continuation to stdout
      --max-new-tokens N --min-new-tokens N --do-sample --temperature T --top-k K --top-p P
      --min-p P --repetition-penalty R --no-repeat-ngram-size N --bad-words "w1,w2"
      --num-beams N --length-penalty L --early-stopping true|false|never
      --num-return-sequences N --penalty-alpha A --stop STRING --seed S --logprobs N
  classify  MODEL TEXT... [--pair TEXT]   fine-tuned head: label probabilities
  zero-shot MODEL TEXT --labels "a,b,c" [--method lm|nli|embedding] [--template T]
      [--hypothesis-template T] [--multi-label]
  embed     MODEL TEXT... [--pooling cls|mean|max] [--no-normalize]   vectors as JSON
)";

absl::Status ApplyGenerationFlags(const CliArgs& a, const tokenizer::Tokenizer& tok,
                                  runtime::GenerationOptions* o) {
  auto set_int = [&](const char* flag, auto* field) -> absl::Status {
    INFER_ASSIGN_OR_RETURN(std::optional<int64_t> v, a.GetInt(flag));
    if (v) *field = static_cast<std::remove_reference_t<decltype(*field)>>(*v);
    return absl::OkStatus();
  };
  auto set_double = [&](const char* flag, double* field) -> absl::Status {
    INFER_ASSIGN_OR_RETURN(std::optional<double> v, a.GetDouble(flag));
    if (v) *field = *v;
    return absl::OkStatus();
  };
  INFER_ASSIGN_OR_RETURN(std::optional<int64_t> max_new, a.GetInt("max-new-tokens"));
  if (max_new) o->max_new_tokens = static_cast<int>(*max_new);
  if (!o->max_new_tokens && !o->max_length) o->max_new_tokens = 32;
  INFER_RETURN_IF_ERROR(set_int("min-new-tokens", &o->min_new_tokens));
  if (a.Get("do-sample")) o->do_sample = true;
  INFER_RETURN_IF_ERROR(set_double("temperature", &o->temperature));
  INFER_RETURN_IF_ERROR(set_int("top-k", &o->top_k));
  INFER_RETURN_IF_ERROR(set_double("top-p", &o->top_p));
  INFER_RETURN_IF_ERROR(set_double("min-p", &o->min_p));
  INFER_RETURN_IF_ERROR(set_double("repetition-penalty", &o->repetition_penalty));
  INFER_RETURN_IF_ERROR(set_int("no-repeat-ngram-size", &o->no_repeat_ngram_size));
  INFER_RETURN_IF_ERROR(set_int("num-beams", &o->num_beams));
  INFER_RETURN_IF_ERROR(set_double("length-penalty", &o->length_penalty));
  INFER_RETURN_IF_ERROR(set_int("num-return-sequences", &o->num_return_sequences));
  INFER_RETURN_IF_ERROR(set_double("penalty-alpha", &o->penalty_alpha));
  INFER_RETURN_IF_ERROR(set_int("logprobs", &o->top_logprobs));
  if (o->top_logprobs > 0) o->logprobs = true;
  INFER_ASSIGN_OR_RETURN(std::optional<int64_t> seed, a.GetInt("seed"));
  if (seed) o->seed = static_cast<uint64_t>(*seed);
  if (auto es = a.Get("early-stopping")) {
    if (*es == "true") o->early_stopping = runtime::EarlyStopping::kTrue;
    else if (*es == "false") o->early_stopping = runtime::EarlyStopping::kHeuristic;
    else if (*es == "never") o->early_stopping = runtime::EarlyStopping::kNever;
    else return absl::InvalidArgumentError("--early-stopping must be true, false or never");
  }
  if (auto stop = a.Get("stop")) o->stop_strings.push_back(*stop);
  if (auto bad = a.Get("bad-words")) {
    for (absl::string_view w : absl::StrSplit(*bad, ',', absl::SkipEmpty())) {
      o->bad_words_ids.push_back(tok.Encode(std::string(w), false).ids);
    }
  }
  return absl::OkStatus();
}

// Flags given but never read are typos: refuse them before any work is done.
absl::Status CheckUnread(const CliArgs& a) {
  std::vector<std::string> unread = a.Unread();
  if (unread.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown or unused flags: --", absl::StrJoin(unread, ", --")));
}

absl::Status RunGenerate(tasks::TaskModel& m, const CliArgs& a, const std::string& prompt) {
  runtime::GenerationOptions o = m.generation_defaults();
  INFER_RETURN_IF_ERROR(ApplyGenerationFlags(a, m.tokenizer(), &o));
  INFER_RETURN_IF_ERROR(CheckUnread(a));
  INFER_RETURN_IF_ERROR(runtime::ValidateGenerationOptions(o, m.lm()->vocab_size()));
  const bool stream = o.num_beams == 1 && o.num_return_sequences == 1;
  tokenizer::StreamDecoder dec(m.tokenizer(), /*skip_special_tokens=*/true);
  runtime::GenerateHooks hooks;
  if (stream) {
    std::cout << prompt << std::flush;
    hooks.on_token = [&](const runtime::TokenEvent& ev) {
      std::cout << dec.Push(ev.token) << std::flush;
    };
  }
  auto start = std::chrono::steady_clock::now();
  INFER_ASSIGN_OR_RETURN(runtime::GenerationResult r, m.Generate(prompt, o, hooks));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stream) std::cout << dec.Finish() << "\n";
  int generated = 0;
  for (size_t i = 0; i < r.sequences.size(); ++i) {
    const runtime::GeneratedSequence& s = r.sequences[i];
    generated += static_cast<int>(s.tokens.size());
    if (!stream) {
      std::cout << "[" << i << "] score=" << s.score << " " << prompt
                << m.tokenizer().Decode(s.tokens, true) << "\n";
    }
    if (o.logprobs) {
      for (size_t t = 0; t < s.tokens.size(); ++t) {
        std::cerr << "  " << nlohmann::json(m.tokenizer().Decode({&s.tokens[t], 1})).dump()
                  << " logprob=" << s.logprobs[t];
        if (t < s.top_logprobs.size()) {
          for (const auto& alt : s.top_logprobs[t]) {
            std::cerr << " | " << nlohmann::json(m.tokenizer().Decode({&alt.token, 1})).dump()
                      << " " << alt.logprob;
          }
        }
        std::cerr << "\n";
      }
    }
    std::cerr << "[" << i << "] finish=" << runtime::FinishReasonName(s.finish_reason) << "\n";
  }
  std::cerr << "mode=" << runtime::DecodingModeName(r.mode) << " prompt_tokens=" << r.prompt_tokens
            << " generated_tokens=" << generated << " seconds=" << secs << " seed=" << r.seed
            << "\n";
  return absl::OkStatus();
}

std::vector<std::string> Texts(const CliArgs& a) {
  return std::vector<std::string>(a.positional().begin() + 2, a.positional().end());
}

absl::Status Run(int argc, char** argv) {
  INFER_ASSIGN_OR_RETURN(CliArgs a, CliArgs::Parse(argc - 1, argv + 1,
                                                   {"do-sample", "multi-label", "no-normalize", "help"}));
  if (a.Has("help") || a.positional().size() < 2) {
    std::cout << kUsage;
    return a.Has("help") ? absl::OkStatus() : absl::InvalidArgumentError("missing arguments");
  }
  a.Get("help");
  const std::string cmd = a.positional()[0], folder = a.positional()[1];
  std::vector<std::string> texts = Texts(a);
  auto backend = kernels::MakeCpuBackend();
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<tasks::TaskModel> m,
                         tasks::TaskModel::Load(folder, backend.get()));
  auto need_text = [&]() -> absl::Status {
    if (texts.empty()) return absl::InvalidArgumentError(absl::StrCat(cmd, " needs a TEXT argument"));
    return absl::OkStatus();
  };
  absl::Status st;
  if (cmd == "info") {
    const model::ModelInfo& i = m->info();
    nlohmann::json j = {{"family", i.family}, {"architecture", i.architecture}, {"causal", i.causal},
                        {"layers", i.num_layers}, {"hidden", i.hidden_size}, {"heads", i.num_heads},
                        {"head_dim", i.head_dim}, {"vocab", i.vocab_size},
                        {"max_positions", i.max_positions}, {"num_labels", i.num_labels}};
    std::cout << j.dump(2) << "\n";
  } else if (cmd == "tokenize") {
    INFER_RETURN_IF_ERROR(need_text());
    auto pair = a.Get("pair");
    tokenizer::Encoding e = pair ? m->tokenizer().EncodePair(texts[0], *pair)
                                 : m->tokenizer().Encode(texts[0]);
    nlohmann::json j = {{"ids", e.ids}, {"tokens", e.tokens}, {"type_ids", e.type_ids},
                        {"offsets", e.offsets}};
    std::cout << j.dump() << "\n";
  } else if (cmd == "generate") {
    INFER_RETURN_IF_ERROR(need_text());
    st = RunGenerate(*m, a, texts[0]);
  } else if (cmd == "classify") {
    INFER_RETURN_IF_ERROR(need_text());
    std::vector<std::string> pairs;
    if (auto p = a.Get("pair")) pairs.assign(texts.size(), *p);
    INFER_ASSIGN_OR_RETURN(tasks::ClassifyResult r, m->Classify(texts, pairs));
    for (size_t i = 0; i < texts.size(); ++i) {
      nlohmann::json j = {{"text", texts[i]}};
      for (size_t l = 0; l < r.labels.size(); ++l) j["probs"][r.labels[l]] = r.scores[i].probs[l];
      std::cout << j.dump() << "\n";
    }
  } else if (cmd == "zero-shot") {
    INFER_RETURN_IF_ERROR(need_text());
    auto labels_flag = a.Get("labels");
    if (!labels_flag) return absl::InvalidArgumentError("zero-shot needs --labels \"a,b\"");
    std::vector<std::string> labels = absl::StrSplit(*labels_flag, ',', absl::SkipEmpty());
    tasks::ZeroShotOptions o;
    if (auto method = a.Get("method")) {
      if (*method == "lm") o.method = tasks::ZeroShotMethod::kLanguageModel;
      else if (*method == "nli") o.method = tasks::ZeroShotMethod::kNli;
      else if (*method == "embedding") o.method = tasks::ZeroShotMethod::kEmbedding;
      else return absl::InvalidArgumentError("--method must be lm, nli or embedding");
    }
    if (auto t = a.Get("template")) o.lm_template = *t;
    if (auto t = a.Get("hypothesis-template")) o.hypothesis_template = *t;
    o.multi_label = a.Get("multi-label").has_value();
    INFER_ASSIGN_OR_RETURN(tasks::ZeroShotResult r, m->ZeroShot(texts[0], labels, o));
    nlohmann::json j = {{"method", tasks::ZeroShotMethodName(r.method)}};
    for (size_t l = 0; l < labels.size(); ++l) {
      j["labels"].push_back({{"label", labels[l]}, {"score", r.scores.scores[l]},
                             {"prob", r.scores.probs[l]}});
    }
    std::cout << j.dump(2) << "\n";
  } else if (cmd == "embed") {
    INFER_RETURN_IF_ERROR(need_text());
    tasks::EmbedOptions o;
    if (auto p = a.Get("pooling")) {
      if (*p == "cls") o.pooling = model::PoolingMode::kCls;
      else if (*p == "mean") o.pooling = model::PoolingMode::kMean;
      else if (*p == "max") o.pooling = model::PoolingMode::kMax;
      else return absl::InvalidArgumentError("--pooling must be cls, mean or max");
    }
    if (a.Get("no-normalize")) o.normalize = false;
    INFER_ASSIGN_OR_RETURN(tasks::EmbedResult r, m->Embed(texts, o));
    for (size_t i = 0; i < texts.size(); ++i) {
      nlohmann::json j = {{"text", texts[i]}, {"tokens", r.token_counts[i]},
                          {"truncated", r.truncated[i]}, {"embedding", r.vectors[i]}};
      std::cout << j.dump() << "\n";
    }
  } else {
    std::cout << kUsage;
    return absl::InvalidArgumentError(absl::StrCat("unknown command \"", cmd, "\""));
  }
  if (!st.ok()) return st;
  return CheckUnread(a);
}

}  // namespace
}  // namespace infer::tools

int main(int argc, char** argv) {
  absl::Status st = infer::tools::Run(argc, argv);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return st.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
