// The RPCs a served model can be asked to answer, by name, so configuration, routing, metrics and
// logs agree on one spelling (the proto's method names).
#pragma once

#include <optional>
#include <string_view>

namespace infer::service {

enum class Rpc { kGenerate, kClassify, kEmbed, kExplainAttention, kTokenize };
inline constexpr Rpc kAllModelRpcs[] = {Rpc::kGenerate, Rpc::kClassify, Rpc::kEmbed,
                                        Rpc::kExplainAttention, Rpc::kTokenize};

const char* RpcName(Rpc rpc);  // "Generate", "Classify", ...
// Case-insensitive; also accepts "explain" for ExplainAttention.
std::optional<Rpc> ParseRpcName(std::string_view name);

}  // namespace infer::service
