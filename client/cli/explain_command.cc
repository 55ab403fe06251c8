// `infer-client explain`: the ExplainAttention stream, summarised on the terminal and, with
// --out, saved as one JSON document {header, attention: [...], footer} that a viewer can load
// without knowing about streams.
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "client/cli/command.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

v1::ExplainAttentionRequest BuildRequest(const ParsedArgs& args) {
  v1::ExplainAttentionRequest request;
  ApplyRequestJson(args, &request);
  const auto& text = args.positionals();
  if (text.size() > 1) throw UsageError("explain takes one TEXT (quote it)");
  if (text.size() == 1) request.set_text(text[0]);
  if (auto v = args.String("token-ids")) {
    if (!text.empty()) throw UsageError("give TEXT or --token-ids, not both");
    for (int32_t id : ParseIdList(*v, "token-ids")) request.add_token_ids(id);
  }
  if (request.text().empty() && request.token_ids_size() == 0) {
    throw UsageError("explain needs a TEXT or --token-ids");
  }
  if (auto v = args.String("pair")) request.set_text_pair(*v);
  if (auto v = args.String("model")) request.set_model(*v);
  if (auto v = args.String("layers")) {
    request.clear_layers();
    for (uint32_t layer : ParseIndexList(*v, "layers")) request.add_layers(layer);
  }
  if (auto v = args.String("heads")) {
    request.clear_heads();
    for (uint32_t head : ParseIndexList(*v, "heads")) request.add_heads(head);
  }
  return request;
}

std::string TokenText(const v1::ExplainHeader& header, uint32_t index) {
  if (index < static_cast<uint32_t>(header.tokens_size())) return header.tokens(index).text();
  std::string fallback = "#";  // += rather than "#" + ...: GCC 12 -Wrestrict false positive
  fallback += std::to_string(index);
  return fallback;
}

// Which key the last query token attends to most, averaged over the block's heads: one line per
// layer that says something without printing tokens^2 numbers.
void PrintBlockSummary(const v1::ExplainHeader& header, const v1::AttentionBlock& block) {
  const uint32_t tq = block.query_tokens(), tk = block.key_tokens();
  const uint32_t heads = block.heads_size();
  std::cout << "layer " << block.layer() << " (" << heads << " heads)";
  if (tq == 0 || tk == 0 || heads == 0 ||
      static_cast<uint64_t>(block.values_size()) != uint64_t{heads} * tq * tk) {
    std::cout << ": " << block.values_size() << " values\n";
    return;
  }
  uint32_t best = 0;
  double best_mean = -1;
  for (uint32_t k = 0; k < tk; ++k) {
    double mean = 0;
    for (uint32_t h = 0; h < heads; ++h) mean += block.values((h * tq + (tq - 1)) * tk + k);
    mean /= heads;
    if (mean > best_mean) best_mean = mean, best = k;
  }
  std::cout << ": \"" << TokenText(header, tq - 1) << "\" attends most to \""
            << TokenText(header, best) << "\" (#" << best << ", mean " << Fixed(best_mean, 3)
            << ")\n";
}

int RunExplain(const Context& context, const ParsedArgs& args) {
  const v1::ExplainAttentionRequest request = BuildRequest(args);
  const auto out_path = args.String("out");

  // ordered_json keeps the keys in stream order (header, attention, footer) for readers.
  nlohmann::ordered_json document = {{"header", nullptr},
                                     {"attention", nlohmann::ordered_json::array()},
                                     {"footer", nullptr}};
  v1::ExplainHeader header;
  auto on_response = [&](const v1::ExplainAttentionResponse& message) {
    if (context.json) PrintJsonLine(message);
    switch (message.payload_case()) {
      case v1::ExplainAttentionResponse::kHeader:
        header = message.header();
        if (out_path) document["header"] = nlohmann::ordered_json::parse(ToJson(header));
        if (!context.json) {
          std::cout << "model=" << header.model() << " family=" << header.family()
                    << (header.causal() ? " causal" : " encoder") << " layers=" << header.layers()
                    << " heads=" << header.heads() << "\ntokens:";
          for (const auto& token : header.tokens()) std::cout << " \"" << token.text() << "\"";
          std::cout << "\n";
        }
        break;
      case v1::ExplainAttentionResponse::kAttention:
        if (out_path) {
          document["attention"].push_back(
              nlohmann::ordered_json::parse(ToJson(message.attention())));
        }
        if (!context.json) PrintBlockSummary(header, message.attention());
        break;
      case v1::ExplainAttentionResponse::kFooter:
        if (out_path) document["footer"] = nlohmann::ordered_json::parse(ToJson(message.footer()));
        if (!context.json) {
          const auto& footer = message.footer();
          std::cout << "forward_passes=" << footer.forward_passes()
                    << " bytes_sent=" << footer.bytes_sent()
                    << " wall_ms=" << Fixed(footer.wall_ms(), 1) << "\n";
        }
        break;
      default:
        break;  // a payload added by a newer server: nothing this client can show
    }
    return true;
  };

  const grpc::Status status = context.client->ExplainAttention(request, on_response);
  std::cout << std::flush;
  if (!status.ok()) return ReportRpcError(status);
  if (out_path) {
    std::ofstream file(*out_path);
    file << document.dump() << "\n";
    if (!file.good()) {
      std::cerr << "error: cannot write " << *out_path << std::endl;
      return 1;
    }
    std::cerr << "wrote " << *out_path << std::endl;
  }
  return 0;
}

}  // namespace

Command ExplainCommand() {
  return {"explain",
          "explain [flags] TEXT",
          "attention per layer and head; --out saves {header, attention, footer} as JSON",
          {
              {"model", "NAME", "model (default: the server's first ExplainAttention model)"},
              {"pair", "TEXT", "second segment (encoders)"},
              {"token-ids", "IDS", "comma-separated token ids instead of TEXT"},
              {"layers", "LIST", "layers to send, e.g. 0,2-4 (default: all)"},
              {"heads", "LIST", "heads to send, e.g. 0-3 (default: all)"},
              {"out", "FILE", "write the whole reply as one JSON document"},
              kRequestJsonFlag,
          },
          &RunExplain};
}

}  // namespace infer::client::cli
