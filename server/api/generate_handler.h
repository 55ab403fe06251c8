// Generate: prepares the request, runs the model's decoder and streams each token as it is chosen.
// A client that cancels or disconnects ends the generation before the next model step.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/sync_stream.h"
#include "infer/v1/generate.pb.h"
#include "server/api/call_scope.h"
#include "server/service/model_set.h"

namespace infer::api {

absl::Status HandleGenerate(const infer::v1::GenerateRequest& request,
                            grpc::ServerWriter<infer::v1::GenerateResponse>* writer,
                            const service::ModelSet& models,
                            const service::ServiceLimits& limits, CallScope& call);

}  // namespace infer::api
