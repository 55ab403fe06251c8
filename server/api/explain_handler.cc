#include "server/api/explain_handler.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/tasks/attention_capture.h"
#include "server/util/status_macros.h"

namespace infer::api {
namespace {

// Payload per attention message: under 4 MiB with room for the message's other fields.
constexpr size_t kMaxBlockBytes = size_t{3} << 20;

// Indices in [0, n) from a request field; all of them when the field is empty.
absl::StatusOr<std::vector<uint32_t>> Selection(
    const google::protobuf::RepeatedField<uint32_t>& field, uint32_t n, const char* name) {
  std::vector<uint32_t> out;
  if (field.empty()) {
    for (uint32_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < field.size(); ++i) {
    if (field[i] >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, "[", i, "]: ", field[i], " is out of range [0, ", n, ")"));
    }
    if (seen.insert(field[i]).second) out.push_back(field[i]);
  }
  return out;
}

struct ExplainInput {
  tokenizer::Encoding encoding;  // ids, tokens, offsets, specials, segments
};

absl::StatusOr<ExplainInput> Tokens(const infer::v1::ExplainAttentionRequest& r,
                                    const tasks::TaskModel& model,
                                    const service::ServiceLimits& limits) {
  ExplainInput in;
  const bool has_text = !r.text().empty();
  const bool has_ids = r.token_ids_size() > 0;
  if (has_text == has_ids) {
    return absl::InvalidArgumentError("text: exactly one of text and token_ids must be set");
  }
  if (!r.text_pair().empty() && !has_text) {
    return absl::InvalidArgumentError("text_pair: needs text");
  }
  if (!r.text_pair().empty() && model.causal()) {
    return absl::InvalidArgumentError("text_pair: segments are for encoders; this model is causal");
  }
  const tokenizer::Tokenizer& tok = model.tokenizer();
  if (has_text) {
    in.encoding = r.text_pair().empty() ? tok.Encode(r.text()) : tok.EncodePair(r.text(), r.text_pair());
  } else {
    const int vocab = model.info().vocab_size;
    for (int i = 0; i < r.token_ids_size(); ++i) {
      int32_t id = r.token_ids(i);
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat("token_ids[", i, "]: ", id,
                                                       " is outside the vocabulary [0, ", vocab,
                                                       ")"));
      }
      in.encoding.ids.push_back(id);
      in.encoding.tokens.push_back(tok.Decode(std::span<const int32_t>(&id, 1)));
      in.encoding.offsets.push_back({0, 0});
      in.encoding.special_mask.push_back(0);
      in.encoding.type_ids.push_back(0);
    }
  }
  const int n = static_cast<int>(in.encoding.ids.size());
  if (n == 0) return absl::InvalidArgumentError("text: has no tokens");
  const int limit = std::min(limits.max_explain_tokens, model.max_input_tokens());
  if (n > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text: ", n, " tokens exceed the explanation limit of ", limit,
        " tokens (the model's context or --max-explain-tokens); send a shorter text"));
  }
  return in;
}

}  // namespace

absl::Status HandleExplainAttention(
    const infer::v1::ExplainAttentionRequest& request,
    grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer,
    const service::ModelSet& models, const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kExplainAttention));
  call.model = served->name();
  tasks::TaskModel& model = served->model();
  for (int i = 0; i < request.methods_size(); ++i) {
    if (request.methods(i) != infer::v1::EXPLAIN_METHOD_ATTENTION) {
      return absl::InvalidArgumentError(absl::StrCat("methods[", i, "]: unsupported method ",
                                                     request.methods(i), " (ATTENTION)"));
    }
  }
  const model::ModelInfo& info = model.info();
  INFER_ASSIGN_OR_RETURN(std::vector<uint32_t> layers,
                         Selection(request.layers(), info.num_layers, "layers"));
  INFER_ASSIGN_OR_RETURN(std::vector<uint32_t> heads,
                         Selection(request.heads(), info.num_heads, "heads"));
  INFER_ASSIGN_OR_RETURN(ExplainInput in, Tokens(request, model, limits));
  const tokenizer::Encoding& e = in.encoding;

  // One forward with attention capture, on the model's worker between batches: everyone else's
  // steps stay on the fused path.
  tasks::AttentionMaps maps;
  INFER_RETURN_IF_ERROR(served->RunExclusive(
      [&]() -> absl::Status {
        INFER_ASSIGN_OR_RETURN(
            maps, tasks::CaptureAttention(model, e.ids,
                                          model.causal() ? std::span<const int32_t>()
                                                         : std::span<const int32_t>(e.type_ids)));
        return absl::OkStatus();
      },
      static_cast<int64_t>(e.ids.size()), call.Lifetime()));

  infer::v1::ExplainAttentionResponse msg;
  infer::v1::ExplainHeader* h = msg.mutable_header();
  h->set_model(call.model);
  h->set_family(info.family);
  h->set_causal(model.causal());
  h->set_layers(info.num_layers);
  h->set_heads(info.num_heads);
  h->set_kv_heads(info.num_kv_heads);
  h->set_hidden_size(info.hidden_size);
  h->set_head_dim(info.head_dim);
  h->set_vocab_size(info.vocab_size);
  for (size_t k = 0; k < e.ids.size(); ++k) {
    infer::v1::Token* t = h->add_tokens();
    t->set_id(e.ids[k]);
    t->set_text(e.tokens[k]);
    t->set_start(static_cast<uint32_t>(e.offsets[k].first));
    t->set_end(static_cast<uint32_t>(e.offsets[k].second));
    t->set_special(e.special_mask[k] != 0);
    t->set_segment(k < e.type_ids.size() ? static_cast<uint32_t>(e.type_ids[k]) : 0);
  }
  if (!writer->Write(msg)) return call.EndedStatus();

  const size_t T = static_cast<size_t>(maps.tokens);
  // A layer's heads are split over several blocks when they would not fit in one message under
  // gRPC's default 4 MiB receive limit, which most clients keep.
  const size_t head_bytes = T * T * sizeof(float);
  const size_t heads_per_block = std::max<size_t>(1, kMaxBlockBytes / head_bytes);
  uint64_t bytes = 0;
  for (uint32_t l : layers) {
    for (size_t first = 0; first < heads.size(); first += heads_per_block) {
      infer::v1::ExplainAttentionResponse block;
      infer::v1::AttentionBlock* a = block.mutable_attention();
      a->set_layer(l);
      a->set_query_tokens(static_cast<uint32_t>(T));
      a->set_key_tokens(static_cast<uint32_t>(T));
      for (size_t i = first; i < std::min(heads.size(), first + heads_per_block); ++i) {
        a->add_heads(heads[i]);
        const float* src = maps.maps[l].data() + heads[i] * T * T;
        a->mutable_values()->Add(src, src + T * T);
      }
      bytes += static_cast<uint64_t>(a->values_size()) * sizeof(float);
      if (!writer->Write(block)) return call.EndedStatus();
    }
  }

  infer::v1::ExplainAttentionResponse footer;
  infer::v1::ExplainFooter* f = footer.mutable_footer();
  f->set_forward_passes(1);
  f->set_bytes_sent(bytes);
  f->set_wall_ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                           call.start)
                     .count());
  f->mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(T));
  call.metrics->AddPromptTokens(call.model, static_cast<double>(T));
  if (!writer->Write(footer)) return call.EndedStatus();
  return absl::OkStatus();
}

}  // namespace infer::api
