#include "server/api/generate_handler.h"

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "server/api/generation_request.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_scheduler.h"
#include "server/tokenizer/tokenizer.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

infer::v1::FinishReason ToProto(runtime::FinishReason r) {
  switch (r) {
    case runtime::FinishReason::kLength: return infer::v1::FINISH_REASON_LENGTH;
    case runtime::FinishReason::kEos: return infer::v1::FINISH_REASON_EOS;
    case runtime::FinishReason::kStop: return infer::v1::FINISH_REASON_STOP;
  }
  return infer::v1::FINISH_REASON_UNSPECIFIED;
}

// Streams token events: one text decoder per returned sequence, so each sequence's texts
// concatenate to its full decoded text with no character split across messages.
class TokenStreamer {
 public:
  TokenStreamer(const tokenizer::Tokenizer& tok, bool skip_special,
                grpc::ServerWriter<infer::v1::GenerateResponse>* writer, CallScope& call)
      : tok_(tok), skip_special_(skip_special), writer_(writer), call_(call) {}

  void OnToken(const runtime::TokenEvent& ev) {
    if (!first_token_seen_) {
      first_token_seen_ = true;
      call_.metrics->ObserveTimeToFirstToken(
          call_.model,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - call_.start).count());
    }
    infer::v1::GenerateResponse resp;
    resp.set_sequence_index(static_cast<uint32_t>(ev.sequence_index));
    resp.add_token_ids(ev.token);
    resp.set_text(Decoder(ev.sequence_index)->Push(ev.token));
    if (want_logprobs_) {
      infer::v1::TokenLogprob* lp = resp.add_logprobs();
      lp->set_token_id(ev.token);
      lp->set_logprob(ev.logprob);
      for (const runtime::TokenLogprob& t : ev.top_logprobs) {
        infer::v1::TopLogprob* top = lp->add_top();
        top->set_token_id(t.token);
        top->set_logprob(t.logprob);
      }
    }
    ++streamed_tokens_;
    Write(resp);
  }
  int streamed_tokens() const { return streamed_tokens_; }

  // The remaining text of a sequence (bytes held back at the end).
  std::string Finish(int index) { return Decoder(index)->Finish(); }

  bool Write(const infer::v1::GenerateResponse& resp) {
    if (client_gone_) return false;
    if (!writer_->Write(resp)) client_gone_ = true;
    return !client_gone_;
  }
  bool client_gone() const { return client_gone_; }
  void set_want_logprobs(bool v) { want_logprobs_ = v; }

 private:
  tokenizer::StreamDecoder* Decoder(int index) {
    while (static_cast<int>(decoders_.size()) <= index) {
      decoders_.push_back(std::make_unique<tokenizer::StreamDecoder>(tok_, skip_special_));
    }
    return decoders_[index].get();
  }

  const tokenizer::Tokenizer& tok_;
  bool skip_special_;
  grpc::ServerWriter<infer::v1::GenerateResponse>* writer_;
  CallScope& call_;
  std::vector<std::unique_ptr<tokenizer::StreamDecoder>> decoders_;
  bool want_logprobs_ = false;
  bool first_token_seen_ = false;
  bool client_gone_ = false;
  int streamed_tokens_ = 0;
};

}  // namespace

absl::Status HandleGenerate(const infer::v1::GenerateRequest& request,
                            grpc::ServerWriter<infer::v1::GenerateResponse>* writer,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kGenerate));
  call.model = served->name();
  tasks::TaskModel& model = served->model();
  INFER_ASSIGN_OR_RETURN(PreparedGeneration prepared, PrepareGeneration(request, model, limits));
  call.log_fields["prompt_tokens"] = prepared.prompt.size();
  call.log_fields["mode"] = runtime::DecodingModeName(runtime::ResolveDecodingMode(prepared.options));

  runtime::ScheduledGeneration job;
  job.prompt = prepared.prompt;
  job.options = prepared.options;
  job.priority = request.priority();
  job.life = call.Lifetime();
  const tokenizer::Tokenizer* tok = &model.tokenizer();
  job.detokenize = [tok](std::span<const int32_t> ids) { return tok->Decode(ids); };
  call.log_fields["priority"] = request.priority();
  INFER_ASSIGN_OR_RETURN(std::shared_ptr<runtime::GenerationStream> stream,
                         served->scheduler()->Submit(std::move(job)));

  // The scheduler's worker produces tokens into the stream; this thread writes them to the
  // client at the client's pace, so a slow reader never holds up the batch.
  TokenStreamer streamer(model.tokenizer(), !request.keep_special_tokens(), writer, call);
  streamer.set_want_logprobs(prepared.options.logprobs);
  std::vector<runtime::StreamEvent> events;
  std::vector<std::chrono::steady_clock::time_point> last_token_at;
  std::optional<absl::StatusOr<runtime::GenerationResult>> outcome;
  while (!outcome) {
    if (streamer.client_gone() || call.Ended()) {
      stream->Cancel();  // the worker drops it at its next step and frees its blocks
      call.log_fields["streamed_tokens"] = streamer.streamed_tokens();
      call.log_fields["client_gone"] = true;
      return call.EndedStatus();
    }
    events.clear();
    if (!stream->Next(&events, std::chrono::milliseconds(20))) continue;
    for (runtime::StreamEvent& ev : events) {
      if (ev.outcome) {
        outcome = std::move(ev.outcome);
        break;
      }
      const size_t seq = static_cast<size_t>(ev.token->sequence_index);
      if (last_token_at.size() <= seq) last_token_at.resize(seq + 1);
      if (last_token_at[seq] != std::chrono::steady_clock::time_point{}) {
        call.metrics->ObserveInterTokenLatency(
            call.model, std::chrono::duration<double>(ev.at - last_token_at[seq]).count());
      }
      last_token_at[seq] = ev.at;
      streamer.OnToken(*ev.token);
    }
  }
  call.log_fields["streamed_tokens"] = streamer.streamed_tokens();
  if (streamer.client_gone()) {
    call.log_fields["client_gone"] = true;
    return call.EndedStatus();
  }
  absl::StatusOr<runtime::GenerationResult> result = std::move(*outcome);
  INFER_RETURN_IF_ERROR(result.status());

  uint32_t generated = 0;
  for (const runtime::GeneratedSequence& s : result->sequences) {
    generated += static_cast<uint32_t>(s.tokens.size());
  }
  call.metrics->AddPromptTokens(call.model, static_cast<double>(result->prompt_tokens));
  call.metrics->AddGeneratedTokens(call.model, generated);
  call.log_fields["generated_tokens"] = generated;

  const int n = static_cast<int>(result->sequences.size());
  for (int i = 0; i < n; ++i) {
    const runtime::GeneratedSequence& s = result->sequences[i];
    infer::v1::GenerateResponse last;
    last.set_sequence_index(static_cast<uint32_t>(i));
    last.set_text(streamer.Finish(i));
    last.set_finish_reason(ToProto(s.finish_reason));
    if (s.finish_reason == runtime::FinishReason::kStop && s.stop_string_index >= 0 &&
        s.stop_string_index < static_cast<int>(prepared.options.stop_strings.size())) {
      last.set_stop_string(prepared.options.stop_strings[s.stop_string_index]);
      last.set_stop_offset(s.stop_offset);
    }
    last.set_score(s.score);
    last.set_generated_tokens(static_cast<uint32_t>(s.tokens.size()));
    if (i == n - 1) {
      last.mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(result->prompt_tokens));
      last.mutable_usage()->set_generated_tokens(generated);
      if (result->mode == runtime::DecodingMode::kSample ||
          result->mode == runtime::DecodingMode::kBeamSample) {
        last.set_seed(result->seed);
      }
      last.set_model(call.model);
    }
    if (!streamer.Write(last)) {
      call.log_fields["client_gone"] = true;
      return call.EndedStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace infer::api
