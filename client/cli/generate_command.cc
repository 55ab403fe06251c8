// `infer-client generate`: streams the text to the terminal as it arrives.
//
// One sequence is printed live. When several are asked for, their messages interleave on the
// wire (sampling sends each sequence's tokens as they are chosen), so each is collected and
// printed whole, under a "[i]" label, when its last message arrives; beam search sends whole
// sequences at the end anyway.
#include <iostream>
#include <map>
#include <string>

#include "client/cli/command.h"
#include "client/cli/generate_request.h"
#include "client/cli/output.h"

namespace infer::client::cli {
namespace {

struct SequenceState {
  std::string text;
  std::vector<std::string> logprob_lines;
  v1::GenerateResponse final_message;
  bool finished = false;
};

// "[2]". Built with += because GCC 12 warns falsely (-Wrestrict, bug 105329) on
// "literal" + std::to_string(...).
std::string Label(uint32_t index) {
  std::string label = "[";
  label += std::to_string(index);
  label += "]";
  return label;
}

std::string FinishName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH: return "length";
    case v1::FINISH_REASON_EOS: return "eos";
    case v1::FINISH_REASON_STOP: return "stop";
    default: return "unfinished";
  }
}

// "id=262 logprob=-1.2345 top=[262:-1.2345 290:-2.1000]" per token of one message.
void CollectLogprobs(const v1::GenerateResponse& message, SequenceState* state) {
  for (const auto& token : message.logprobs()) {
    std::string line = "id=" + std::to_string(token.token_id()) +
                       " logprob=" + Fixed(token.logprob(), 4);
    if (token.top_size() > 0) {
      line += " top=[";
      for (int i = 0; i < token.top_size(); ++i) {
        if (i > 0) line += " ";
        line += std::to_string(token.top(i).token_id()) + ":" + Fixed(token.top(i).logprob(), 4);
      }
      line += "]";
    }
    state->logprob_lines.push_back(std::move(line));
  }
}

void PrintSummary(const std::map<uint32_t, SequenceState>& sequences,
                  const v1::GenerateResponse& stream_end, const CallInfo& info, bool labelled) {
  for (const auto& [index, state] : sequences) {
    const auto& end = state.final_message;
    if (labelled) std::cerr << Label(index) << " ";
    std::cerr << "finish_reason=" << FinishName(end.finish_reason())
              << " generated_tokens=" << end.generated_tokens();
    if (end.finish_reason() == v1::FINISH_REASON_STOP) {
      std::cerr << " stop_string=\"" << end.stop_string() << "\" stop_offset=" << end.stop_offset();
    }
    if (end.score() != 0) std::cerr << " score=" << Fixed(end.score(), 4);
    std::cerr << "\n";
    if (!state.logprob_lines.empty()) {
      std::cerr << "logprobs";
      if (labelled) std::cerr << " " << Label(index);
      std::cerr << ":\n";
      for (const auto& line : state.logprob_lines) std::cerr << "  " << line << "\n";
    }
  }
  std::cerr << "model=" << stream_end.model()
            << " prompt_tokens=" << stream_end.usage().prompt_tokens()
            << " generated_tokens=" << stream_end.usage().generated_tokens();
  if (stream_end.seed() != 0) std::cerr << " seed=" << stream_end.seed();
  // The id the server logged this call under, to find it in the server's logs.
  if (!info.request_id.empty()) std::cerr << " request_id=" << info.request_id;
  std::cerr << std::endl;
}

int RunGenerate(const Context& context, const ParsedArgs& args) {
  const v1::GenerateRequest request = BuildGenerateRequest(args);
  const bool labelled = request.num_return_sequences() > 1;

  std::map<uint32_t, SequenceState> sequences;
  bool streamed_text = false;       // live text is on stdout and needs its closing newline
  v1::GenerateResponse stream_end;  // the message carrying usage (the stream's last one)
  auto on_response = [&](const v1::GenerateResponse& message) {
    if (context.json) {
      PrintJsonLine(message);
      return true;
    }
    SequenceState& state = sequences[message.sequence_index()];
    state.text += message.text();
    CollectLogprobs(message, &state);
    if (!labelled && message.sequence_index() == 0 && !message.text().empty()) {
      std::cout << message.text() << std::flush;
      streamed_text = true;
    }
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      state.finished = true;
      state.final_message = message;
      if (labelled) std::cout << "[" << message.sequence_index() << "] " << state.text << std::endl;
    }
    if (message.has_usage() || !message.model().empty()) stream_end = message;
    return true;
  };

  CallInfo info;
  const grpc::Status status = context.client->Generate(request, on_response, {}, &info);
  if (!context.json) {
    if (streamed_text) std::cout << std::endl;
    // Sequences other than 0 in an unlabelled run only happen when the server returns more than
    // was asked for; print them rather than drop them.
    for (const auto& [index, state] : sequences) {
      if (!labelled && index != 0) std::cout << "[" << index << "] " << state.text << std::endl;
    }
  }
  if (!status.ok()) return ReportRpcError(status);
  if (!context.json) PrintSummary(sequences, stream_end, info, labelled || sequences.size() > 1);
  return 0;
}

}  // namespace

Command GenerateCommand() {
  return {"generate", "generate [flags] PROMPT",
          "stream generated text (finish reason and token counts on stderr)", GenerateFlags(),
          &RunGenerate};
}

}  // namespace infer::client::cli
