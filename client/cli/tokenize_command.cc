// `infer-client tokenize`: the server's tokenizer, token by token with byte spans.
#include <iostream>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

int RunTokenize(const Context& context, const ParsedArgs& args) {
  v1::TokenizeRequest request;
  ApplyRequestJson(args, &request);
  for (const auto& text : args.positionals()) request.add_inputs(text);
  if (request.inputs_size() == 0) throw UsageError("tokenize needs at least one TEXT");
  for (const auto& pair : args.All("pair")) request.add_pairs(pair);
  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.Bool("no-special-tokens")) request.set_add_special_tokens(!*v);

  const auto result = context.client->Tokenize(request);
  if (!result.ok()) return ReportRpcError(result.status);
  const auto& response = result.value;
  if (context.json) {
    PrintJsonLine(response);
    return 0;
  }
  std::cout << "model=" << response.model() << "\n";
  for (int i = 0; i < response.results_size(); ++i) {
    const auto& tokenization = response.results(i);
    std::cout << "[" << i << "] " << tokenization.tokens_size() << " tokens; ids:";
    for (int32_t id : tokenization.ids()) std::cout << " " << id;
    std::cout << "\n";
    for (const auto& token : tokenization.tokens()) {
      std::cout << "    " << token.id() << "\t\"" << token.text() << "\"\t[" << token.start() << ","
                << token.end() << ")";
      if (token.segment() != 0) std::cout << " segment=" << token.segment();
      if (token.special()) std::cout << " special";
      std::cout << "\n";
    }
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

Command TokenizeCommand() {
  return {"tokenize",
          "tokenize [flags] TEXT...",
          "the model's tokenizer: ids, token strings and byte spans",
          {
              {"model", "NAME", "model to use (default: the server's first Tokenize model)"},
              {"pair", "TEXT", "second segment, one per TEXT", true},
              {"no-special-tokens", "", "do not add BOS/CLS/SEP..."},
              kRequestJsonFlag,
          },
          &RunTokenize};
}

}  // namespace infer::client::cli
