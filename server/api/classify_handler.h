// Classify: a fine-tuned head when the request names no labels, zero-shot over the request's
// labels otherwise (the method the model allows: LM, NLI or embeddings).
#pragma once

#include "absl/status/status.h"
#include "infer/v1/classify.pb.h"
#include "server/api/call_scope.h"
#include "server/service/model_set.h"

namespace infer::api {

absl::Status HandleClassify(const infer::v1::ClassifyRequest& request,
                            infer::v1::ClassifyResponse* response,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call);

}  // namespace infer::api
