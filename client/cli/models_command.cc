// `infer-client models`: what the server holds and which RPCs each model answers.
#include <iostream>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

int RunModels(const Context& context, const ParsedArgs& args) {
  if (!args.positionals().empty()) throw UsageError("models takes no arguments");
  const auto result = context.client->ListModels();
  if (!result.ok()) return ReportRpcError(result.status);
  if (context.json) {
    PrintJsonLine(result.value);
    return 0;
  }
  for (const auto& model : result.value.models()) {
    std::cout << model.name() << "\n"
              << "    " << model.family() << " " << model.architecture()
              << (model.causal() ? " (causal)" : " (encoder)") << " on " << model.backend()
              << ", from " << model.path() << "\n"
              << "    layers=" << model.layers() << " hidden=" << model.hidden_size()
              << " heads=" << model.heads() << " kv_heads=" << model.kv_heads()
              << " head_dim=" << model.head_dim() << " vocab=" << model.vocab_size()
              << " max_tokens=" << model.max_tokens() << "\n"
              << "    rpcs: " << Join(model.rpcs()) << "\n";
    if (model.labels_size() > 0) std::cout << "    labels: " << Join(model.labels()) << "\n";
    if (model.embedding_dimensions() > 0) {
      std::cout << "    embedding_dimensions=" << model.embedding_dimensions() << "\n";
    }
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

Command ModelsCommand() {
  return {"models", "models", "list the models the server holds", {}, &RunModels};
}

}  // namespace infer::client::cli
