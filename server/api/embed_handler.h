// Embed: pooled (and optionally normalised) sentence vectors for a batch of texts.
#pragma once

#include "absl/status/status.h"
#include "infer/v1/embed.pb.h"
#include "server/api/call_scope.h"
#include "server/service/model_set.h"

namespace infer::api {

absl::Status HandleEmbed(const infer::v1::EmbedRequest& request,
                         infer::v1::EmbedResponse* response, const service::ModelSet& models,
                         const service::ServiceLimits& limits, CallScope& call);

}  // namespace infer::api
