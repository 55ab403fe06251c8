#include "server/api/embed_handler.h"

#include "absl/strings/str_cat.h"
#include "server/api/input_checks.h"
#include "server/util/status_macros.h"

namespace infer::api {

absl::Status HandleEmbed(const infer::v1::EmbedRequest& request,
                         infer::v1::EmbedResponse* response, const service::ModelSet& models,
                         const service::ServiceLimits& limits, CallScope& call) {
  INFER_ASSIGN_OR_RETURN(service::ServedModel * served,
                         models.Resolve(request.model(), service::Rpc::kEmbed));
  call.model = served->name();
  response->set_model(call.model);
  INFER_RETURN_IF_ERROR(CheckInputs(request.inputs(), limits));
  tasks::EmbedOptions options;
  switch (request.pooling()) {
    case infer::v1::POOLING_UNSPECIFIED: break;
    case infer::v1::POOLING_CLS: options.pooling = model::PoolingMode::kCls; break;
    case infer::v1::POOLING_MEAN: options.pooling = model::PoolingMode::kMean; break;
    case infer::v1::POOLING_MAX: options.pooling = model::PoolingMode::kMax; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("pooling: unknown value ", request.pooling()));
  }
  if (request.has_normalize()) options.normalize = request.normalize();
  options.truncate = request.truncate();
  tasks::TaskModel& model = served->model();
  std::vector<std::string> texts(request.inputs().begin(), request.inputs().end());

  // Tokenized on this thread, encoded in forwards shared with other requests (the model's
  // batcher), pooled here.
  INFER_ASSIGN_OR_RETURN(tasks::EmbedPlan plan, model.PrepareEmbed(texts, options));
  INFER_ASSIGN_OR_RETURN(std::vector<runtime::EncodedInput> encoded,
                         served->batcher()->Encode(std::move(plan.inputs), call.Lifetime()));
  INFER_ASSIGN_OR_RETURN(tasks::EmbedResult r, model.FinishEmbed(plan, encoded));

  uint32_t prompt_tokens = 0;
  for (size_t i = 0; i < r.vectors.size(); ++i) {
    infer::v1::Embedding* e = response->add_embeddings();
    e->mutable_values()->Add(r.vectors[i].begin(), r.vectors[i].end());
    e->set_tokens(static_cast<uint32_t>(r.token_counts[i]));
    e->set_truncated_tokens(static_cast<uint32_t>(r.truncated[i]));
    prompt_tokens += e->tokens();
  }
  response->set_dimensions(r.vectors.empty() ? 0 : static_cast<uint32_t>(r.vectors[0].size()));
  response->mutable_usage()->set_prompt_tokens(prompt_tokens);
  call.metrics->AddPromptTokens(call.model, prompt_tokens);
  return absl::OkStatus();
}

}  // namespace infer::api
