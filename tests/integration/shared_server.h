// One server per test binary, started on first use with the golden models under fixed names,
// and the in-process engine on the same folders, to compare what crosses the wire with what the
// engine computes.
#pragma once

#include <memory>
#include <string>

#include "client/infer_client.h"
#include "server/tasks/task_model.h"
#include "tests/integration/server_process.h"

namespace infer::testing {

// Models: "gpt2" (causal LM), "embed" (bert-embed, sentence-transformers mean pooling),
// "nli" (bert with an NLI head), "multi" (distilbert, multi-label head).
// Limits: --max-batch 8, --max-new-tokens 256, --max-request-bytes 65536.
ServerProcess& SharedServer();
client::InferenceClient& SharedClient();

// The same folder loaded in this process (CPU backend), by the server's model name.
tasks::TaskModel& LocalModel(const std::string& name);

}  // namespace infer::testing
