// The generate command's flags: one per GenerateRequest field, and the mapping onto the request.
#include "client/cli/generate_request.h"

#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

v1::EarlyStopping ParseEarlyStopping(const std::string& text) {
  // transformers spells it early_stopping=True / False / "never".
  if (text == "true" || text == "True") return v1::EARLY_STOPPING_TRUE;
  if (text == "false" || text == "False" || text == "heuristic") {
    return v1::EARLY_STOPPING_HEURISTIC;
  }
  if (text == "never") return v1::EARLY_STOPPING_NEVER;
  throw UsageError("--early-stopping: expected true, false (heuristic) or never, got '" + text +
                   "'");
}

}  // namespace

std::vector<FlagSpec> GenerateFlags() {
  return {
      {"model", "NAME", "model to use (default: the server's first Generate model)"},
      {"prompt-token-ids", "IDS", "prompt as comma-separated token ids instead of PROMPT"},
      {"max-new-tokens", "N", "new tokens at most"},
      {"max-length", "N", "prompt + new tokens at most (when --max-new-tokens is not given)"},
      {"min-new-tokens", "N", "EOS is banned until N new tokens exist"},
      {"min-length", "N", "EOS is banned while prompt + new tokens < N"},
      {"do-sample", "", "sample instead of picking the most likely token"},
      {"temperature", "T", "sampling temperature (0: greedy)"},
      {"top-k", "K", "keep the K most likely tokens (also contrastive search's candidates)"},
      {"top-p", "P", "nucleus sampling mass in (0, 1]"},
      {"min-p", "P", "drop tokens below P times the best one's probability"},
      {"repetition-penalty", "X", "CTRL-style penalty on tokens already seen (1: off)"},
      {"no-repeat-ngram-size", "N", "no N-gram occurs twice"},
      {"bad-words", "WORDS", "comma-separated words never to generate", true},
      {"bad-words-ids", "IDS", "a comma-separated token id sequence never to generate", true},
      {"num-beams", "N", "beam search with N beams"},
      {"length-penalty", "X", "beam score = sum logprob / length^X"},
      {"early-stopping", "MODE", "beam search stop rule: true, false (heuristic) or never"},
      {"num-return-sequences", "N", "sequences to return"},
      {"penalty-alpha", "X", "contrastive search degeneration penalty (with --top-k > 1)"},
      {"stop", "TEXT", "stop string", true},
      {"eos-token-ids", "IDS", "comma-separated ids that replace the model's EOS ids"},
      {"ignore-eos", "", "never stop at EOS"},
      {"seed", "N", "sampler seed (default: random, printed at the end)"},
      {"logprobs", "", "report each token's log-probability"},
      {"top-logprobs", "N", "... and the N most likely alternatives (0..20)"},
      {"raw-logprobs", "", "log-probabilities of the raw logits, before processors"},
      {"keep-special-tokens", "", "keep special tokens (EOS, ...) in the text (default: left out)"},
      {"priority", "N", "scheduling priority: lower runs first (default 0)"},
      kRequestJsonFlag,
  };
}

v1::GenerateRequest BuildGenerateRequest(const ParsedArgs& args) {
  v1::GenerateRequest request;
  ApplyRequestJson(args, &request);

  const auto& prompt = args.positionals();
  if (auto ids = args.String("prompt-token-ids")) {
    if (!prompt.empty()) throw UsageError("give PROMPT or --prompt-token-ids, not both");
    for (int32_t id : ParseIdList(*ids, "prompt-token-ids")) request.add_prompt_token_ids(id);
  } else if (prompt.size() == 1) {
    request.set_prompt(prompt[0]);
  } else if (prompt.size() > 1) {
    throw UsageError("generate takes one PROMPT (quote it), got " + std::to_string(prompt.size()));
  } else if (request.prompt().empty() && request.prompt_token_ids_size() == 0) {
    throw UsageError("generate needs a PROMPT");
  }

  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.Int("max-new-tokens")) request.set_max_new_tokens(static_cast<int32_t>(*v));
  if (auto v = args.Int("max-length")) request.set_max_length(static_cast<int32_t>(*v));
  if (auto v = args.Int("min-new-tokens")) request.set_min_new_tokens(static_cast<int32_t>(*v));
  if (auto v = args.Int("min-length")) request.set_min_length(static_cast<int32_t>(*v));
  if (auto v = args.Bool("do-sample")) request.set_do_sample(*v);
  if (auto v = args.Double("temperature")) request.set_temperature(*v);
  if (auto v = args.Int("top-k")) request.set_top_k(static_cast<int32_t>(*v));
  if (auto v = args.Double("top-p")) request.set_top_p(*v);
  if (auto v = args.Double("min-p")) request.set_min_p(*v);
  if (auto v = args.Double("repetition-penalty")) request.set_repetition_penalty(*v);
  if (auto v = args.Int("no-repeat-ngram-size")) {
    request.set_no_repeat_ngram_size(static_cast<int32_t>(*v));
  }
  for (const auto& list : args.All("bad-words")) {
    for (const auto& word : SplitList(list)) request.add_bad_words(word);
  }
  for (const auto& list : args.All("bad-words-ids")) {
    auto* sequence = request.add_bad_words_ids();
    for (int32_t id : ParseIdList(list, "bad-words-ids")) sequence->add_ids(id);
  }
  if (auto v = args.Int("num-beams")) request.set_num_beams(static_cast<int32_t>(*v));
  if (auto v = args.Double("length-penalty")) request.set_length_penalty(*v);
  if (auto v = args.String("early-stopping")) request.set_early_stopping(ParseEarlyStopping(*v));
  if (auto v = args.Int("num-return-sequences")) {
    request.set_num_return_sequences(static_cast<int32_t>(*v));
  }
  if (auto v = args.Double("penalty-alpha")) request.set_penalty_alpha(*v);
  for (const auto& stop : args.All("stop")) request.add_stop(stop);
  if (auto v = args.String("eos-token-ids")) {
    request.clear_eos_token_ids();
    for (int32_t id : ParseIdList(*v, "eos-token-ids")) request.add_eos_token_ids(id);
  }
  if (auto v = args.Bool("ignore-eos")) request.set_ignore_eos(*v);
  if (auto v = args.Uint("seed")) request.set_seed(*v);
  if (auto v = args.Bool("logprobs")) request.set_logprobs(*v);
  if (auto v = args.Uint("top-logprobs")) request.set_top_logprobs(static_cast<uint32_t>(*v));
  if (auto v = args.Bool("raw-logprobs")) request.set_raw_logprobs(*v);
  if (auto v = args.Bool("keep-special-tokens")) request.set_keep_special_tokens(*v);
  if (auto v = args.Int("priority")) request.set_priority(static_cast<int32_t>(*v));
  return request;
}

}  // namespace infer::client::cli
