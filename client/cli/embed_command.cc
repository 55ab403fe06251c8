// `infer-client embed`: vector sizes and, for several inputs, their cosine similarities; the full
// vectors only with --json (they are hundreds of numbers each).
#include <cmath>
#include <iostream>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

v1::Pooling ParsePooling(const std::string& text) {
  if (text == "cls") return v1::POOLING_CLS;
  if (text == "mean") return v1::POOLING_MEAN;
  if (text == "max") return v1::POOLING_MAX;
  throw UsageError("--pooling: expected cls, mean or max, got '" + text + "'");
}

double Dot(const v1::Embedding& a, const v1::Embedding& b) {
  double sum = 0;
  const int n = std::min(a.values_size(), b.values_size());
  for (int i = 0; i < n; ++i) sum += static_cast<double>(a.values(i)) * b.values(i);
  return sum;
}

double Cosine(const v1::Embedding& a, const v1::Embedding& b) {
  const double norms = std::sqrt(Dot(a, a) * Dot(b, b));
  return norms > 0 ? Dot(a, b) / norms : 0.0;
}

int RunEmbed(const Context& context, const ParsedArgs& args) {
  v1::EmbedRequest request;
  ApplyRequestJson(args, &request);
  for (const auto& text : args.positionals()) request.add_inputs(text);
  if (request.inputs_size() == 0) throw UsageError("embed needs at least one TEXT");
  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.String("pooling")) request.set_pooling(ParsePooling(*v));
  if (auto v = args.Bool("normalize")) request.set_normalize(*v);
  if (auto v = args.Bool("truncate")) request.set_truncate(*v);

  const auto result = context.client->Embed(request);
  if (!result.ok()) return ReportRpcError(result.status);
  const auto& response = result.value;
  if (context.json) {
    PrintJsonLine(response);
    return 0;
  }
  std::cout << "model=" << response.model() << " dimensions=" << response.dimensions() << "\n";
  for (int i = 0; i < response.embeddings_size(); ++i) {
    const auto& embedding = response.embeddings(i);
    std::cout << "[" << i << "] tokens=" << embedding.tokens();
    if (embedding.truncated_tokens() > 0) {
      std::cout << " truncated=" << embedding.truncated_tokens();
    }
    std::cout << " norm=" << Fixed(std::sqrt(Dot(embedding, embedding)), 4) << "  "
              << (i < request.inputs_size() ? request.inputs(i) : "") << "\n";
  }
  if (response.embeddings_size() >= 2) {
    std::cout << "cosine similarity:\n";
    for (const auto& row : response.embeddings()) {
      std::cout << "   ";
      for (const auto& column : response.embeddings()) {
        std::cout << " " << Fixed(Cosine(row, column), 4);
      }
      std::cout << "\n";
    }
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

Command EmbedCommand() {
  return {"embed",
          "embed [flags] TEXT...",
          "sentence embeddings: dimensions and cosine similarities (vectors with --json)",
          {
              {"model", "NAME", "model to use (default: the server's first Embed model)"},
              {"pooling", "MODE", "cls, mean or max (default: the model folder's setting)"},
              {"normalize", "", "L2-normalise (--normalize=false to turn the folder's off)"},
              {"truncate", "", "cut inputs longer than the context instead of failing"},
              kRequestJsonFlag,
          },
          &RunEmbed};
}

}  // namespace infer::client::cli
