// Tokenize and ListModels: answers from the tokenizer and the model facts, with no forward pass
// (neither waits for a model that is busy).
#pragma once

#include "absl/status/status.h"
#include "infer/v1/models.pb.h"
#include "infer/v1/tokenize.pb.h"
#include "server/api/call_scope.h"
#include "server/service/model_set.h"

namespace infer::api {

absl::Status HandleTokenize(const infer::v1::TokenizeRequest& request,
                            infer::v1::TokenizeResponse* response,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call);

absl::Status HandleListModels(const infer::v1::ListModelsRequest& request,
                              infer::v1::ListModelsResponse* response,
                              const service::ModelSet& models);

}  // namespace infer::api
