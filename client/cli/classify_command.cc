// `infer-client classify`: a fine-tuned head, or zero-shot over --labels.
#include <iostream>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

v1::ZeroShotMethod ParseMethod(const std::string& text) {
  if (text == "lm") return v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL;
  if (text == "nli") return v1::ZERO_SHOT_METHOD_NLI;
  if (text == "embedding") return v1::ZERO_SHOT_METHOD_EMBEDDING;
  throw UsageError("--method: expected lm, nli or embedding, got '" + text + "'");
}

const char* MethodName(v1::ZeroShotMethod method) {
  switch (method) {
    case v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL: return "zero-shot lm";
    case v1::ZERO_SHOT_METHOD_NLI: return "zero-shot nli";
    case v1::ZERO_SHOT_METHOD_EMBEDDING: return "zero-shot embedding";
    default: return "fine-tuned head";
  }
}

v1::ClassifyRequest BuildRequest(const ParsedArgs& args) {
  v1::ClassifyRequest request;
  ApplyRequestJson(args, &request);
  for (const auto& text : args.positionals()) request.add_inputs(text);
  if (request.inputs_size() == 0) throw UsageError("classify needs at least one TEXT");
  for (const auto& pair : args.All("pair")) request.add_pairs(pair);
  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.String("labels")) {
    request.clear_labels();
    for (const auto& label : SplitList(*v)) request.add_labels(label);
  }
  if (auto v = args.String("method")) request.set_method(ParseMethod(*v));
  if (auto v = args.String("lm-template")) request.set_lm_template(*v);
  if (auto v = args.String("hypothesis-template")) request.set_hypothesis_template(*v);
  if (auto v = args.Bool("multi-label")) request.set_multi_label(*v);
  if (auto v = args.Double("temperature")) request.set_temperature(*v);
  if (auto v = args.Bool("truncate")) request.set_truncate(*v);
  if (auto v = args.Uint("top-k")) request.set_top_k(static_cast<uint32_t>(*v));
  return request;
}

int RunClassify(const Context& context, const ParsedArgs& args) {
  const v1::ClassifyRequest request = BuildRequest(args);
  const auto result = context.client->Classify(request);
  if (!result.ok()) return ReportRpcError(result.status);
  const auto& response = result.value;
  if (context.json) {
    PrintJsonLine(response);
    return 0;
  }
  std::cout << "model=" << response.model() << " (" << MethodName(response.method()) << ")\n";
  for (int i = 0; i < response.results_size(); ++i) {
    const auto& classification = response.results(i);
    std::cout << "[" << i << "] " << (i < request.inputs_size() ? request.inputs(i) : "") << "\n";
    for (const auto& label : classification.labels()) {
      std::cout << "    " << Fixed(label.score(), 4) << "  " << label.label()
                << "  (logit " << Fixed(label.logit(), 4) << ")\n";
    }
  }
  std::cout << std::flush;
  std::cerr << "prompt_tokens=" << response.usage().prompt_tokens() << std::endl;
  return 0;
}

}  // namespace

Command ClassifyCommand() {
  return {"classify",
          "classify [flags] TEXT...",
          "classify texts with the model's head, or zero-shot with --labels",
          {
              {"model", "NAME", "model to use (default: the server's first Classify model)"},
              {"pair", "TEXT", "second segment, one per TEXT (sentence-pair heads)", true},
              {"labels", "A,B,C", "zero-shot candidate labels"},
              {"method", "METHOD", "zero-shot method: lm, nli or embedding"},
              {"lm-template", "TEXT", "lm prompt; {text} is replaced by the input"},
              {"hypothesis-template", "TEXT", "nli hypothesis; {} is replaced by the label"},
              {"multi-label", "", "nli: score each label on its own"},
              {"temperature", "T", "embedding: softmax temperature over cosine similarities"},
              {"truncate", "", "cut inputs longer than the context instead of failing"},
              {"top-k", "K", "only the best K labels per input"},
              kRequestJsonFlag,
          },
          &RunClassify};
}

}  // namespace infer::client::cli
