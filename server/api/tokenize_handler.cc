#include "server/api/tokenize_handler.h"

#include "server/api/input_checks.h"
#include "server/util/status_macros.h"

namespace infer::api {

absl::Status HandleTokenize(const infer::v1::TokenizeRequest& request,
                            infer::v1::TokenizeResponse* response,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kTokenize));
  call.model = served->name();
  response->set_model(call.model);
  INFER_RETURN_IF_ERROR(CheckInputs(request.inputs(), limits));
  INFER_RETURN_IF_ERROR(CheckPairs(request.pairs(), request.inputs()));
  // The tokenizer is read-only after load: no need to wait for the model.
  const tokenizer::Tokenizer& tok = served->model().tokenizer();
  const bool special = !request.has_add_special_tokens() || request.add_special_tokens();
  uint32_t total = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    tokenizer::Encoding e = request.pairs().empty()
                                ? tok.Encode(request.inputs(i), special)
                                : tok.EncodePair(request.inputs(i), request.pairs(i), special);
    infer::v1::Tokenization* t = response->add_results();
    for (size_t k = 0; k < e.ids.size(); ++k) {
      infer::v1::Token* token = t->add_tokens();
      token->set_id(e.ids[k]);
      token->set_text(e.tokens[k]);
      token->set_start(static_cast<uint32_t>(e.offsets[k].first));
      token->set_end(static_cast<uint32_t>(e.offsets[k].second));
      token->set_special(e.special_mask[k] != 0);
      token->set_segment(k < e.type_ids.size() ? static_cast<uint32_t>(e.type_ids[k]) : 0);
      t->add_ids(e.ids[k]);
    }
    total += static_cast<uint32_t>(e.ids.size());
  }
  response->mutable_usage()->set_prompt_tokens(total);
  return absl::OkStatus();
}

absl::Status HandleListModels(const infer::v1::ListModelsRequest&,
                              infer::v1::ListModelsResponse* response,
                              const service::ModelSet& models) {
  for (const auto& m : models.models()) {
    const tasks::TaskModel& tm = m->model();
    const model::ModelInfo& info = tm.info();
    infer::v1::ModelInfo* out = response->add_models();
    out->set_name(m->name());
    out->set_path(m->spec().path);
    out->set_family(info.family);
    out->set_architecture(info.architecture);
    out->set_causal(tm.causal());
    for (service::Rpc rpc : m->rpcs()) out->add_rpcs(service::RpcName(rpc));
    out->set_backend(m->spec().backend);
    out->set_layers(info.num_layers);
    out->set_hidden_size(info.hidden_size);
    out->set_heads(info.num_heads);
    out->set_kv_heads(info.num_kv_heads);
    out->set_head_dim(info.head_dim);
    out->set_vocab_size(info.vocab_size);
    out->set_max_tokens(tm.max_input_tokens());
    for (const auto& [id, label] : info.id2label) {
      if (info.num_labels > 0) out->add_labels(label);
    }
    if (!tm.causal()) out->set_embedding_dimensions(info.hidden_size);
  }
  return absl::OkStatus();
}

}  // namespace infer::api
