// GPT-2 (gpt2, distilgpt2 and any GPT2LMHeadModel folder): pre-LN decoder, learned positions,
// fused QKV Conv1D (split here into three projections), tied LM head.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "server/model/decoder_model.h"
#include "server/model/model_folder.h"

namespace infer::model {

absl::StatusOr<std::unique_ptr<DecoderModel>> LoadGpt2(const ModelFolder& folder,
                                                       kernels::Backend* backend);

}  // namespace infer::model
