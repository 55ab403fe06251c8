// sentence-transformers folders: how token states become one sentence embedding.
//
//   modules.json                 [{"idx":0,"name":"0","path":"","type":"...models.Transformer"},
//                                 {"idx":1,"name":"1","path":"1_Pooling","type":"...models.Pooling"},
//                                 {"idx":2,"name":"2","path":"2_Normalize","type":"...Normalize"}]
//   1_Pooling/config.json        {"word_embedding_dimension":384,"pooling_mode_mean_tokens":true,..}
//   sentence_bert_config.json    {"max_seq_length":256,"do_lower_case":false}   (optional)
//
// Supported module types: Transformer, Pooling, Normalize. Others (Dense, LayerNorm, ...) are
// UNIMPLEMENTED, as is more than one pooling mode at once (sentence-transformers would concatenate
// them).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace infer::model {

enum class PoolingMode {
  kCls,           // pooling_mode_cls_token: the first token's state
  kMean,          // pooling_mode_mean_tokens: mean over unmasked tokens
  kMax,           // pooling_mode_max_tokens: element-wise max over unmasked tokens
  kMeanSqrtLen,   // pooling_mode_mean_sqrt_len_tokens: sum / sqrt(token count)
  kLastToken,     // pooling_mode_lasttoken: the last unmasked token's state
  kWeightedMean,  // pooling_mode_weightedmean_tokens: position-weighted mean (weights 1..n)
};

std::string_view PoolingModeName(PoolingMode mode);  // "cls", "mean", "max", ...

struct PoolingConfig {
  PoolingMode mode = PoolingMode::kMean;
  bool normalize = false;              // a Normalize module follows pooling (L2, unit length)
  std::optional<int> max_seq_length;   // sentence_bert_config.json
  std::optional<bool> do_lower_case;   // sentence_bert_config.json
  int dimension = 0;                   // word_embedding_dimension
};

// nullopt when the folder has no modules.json (not a sentence-transformers folder); errors name
// the file and field.
absl::StatusOr<std::optional<PoolingConfig>> ReadPoolingConfig(const std::string& folder);

}  // namespace infer::model
