// Flags of `infer-client generate` and how they fill a GenerateRequest (kept apart from the
// streaming output so each stays small).
#pragma once

#include <vector>

#include "client/cli/args.h"
#include "infer/v1/generate.pb.h"

namespace infer::client::cli {

std::vector<FlagSpec> GenerateFlags();
// Throws UsageError for a missing or doubled prompt and for malformed values.
v1::GenerateRequest BuildGenerateRequest(const ParsedArgs& args);

}  // namespace infer::client::cli
