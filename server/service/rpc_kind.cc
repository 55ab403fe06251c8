#include "server/service/rpc_kind.h"

#include <string>

#include "absl/strings/ascii.h"

namespace infer::service {

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kGenerate: return "Generate";
    case Rpc::kClassify: return "Classify";
    case Rpc::kEmbed: return "Embed";
    case Rpc::kExplainAttention: return "ExplainAttention";
    case Rpc::kTokenize: return "Tokenize";
  }
  return "?";
}

std::optional<Rpc> ParseRpcName(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "explain") return Rpc::kExplainAttention;
  for (Rpc rpc : kAllModelRpcs) {
    if (lower == absl::AsciiStrToLower(std::string(RpcName(rpc)))) return rpc;
  }
  return std::nullopt;
}

}  // namespace infer::service
