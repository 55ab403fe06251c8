// ExplainAttention: a header with the model facts and tokens, one block per selected layer with
// the selected heads' attention probabilities, and a footer with the cost of the call.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/sync_stream.h"
#include "infer/v1/explain.pb.h"
#include "server/api/call_scope.h"
#include "server/service/model_set.h"

namespace infer::api {

absl::Status HandleExplainAttention(
    const infer::v1::ExplainAttentionRequest& request,
    grpc::ServerWriter<infer::v1::ExplainAttentionResponse>* writer,
    const service::ModelSet& models, const service::ServiceLimits& limits, CallScope& call);

}  // namespace infer::api
