// Facts about a loaded model that the layers above (tasks, API, explanations) may read without
// knowing the architecture.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace infer::model {

struct ModelInfo {
  std::string family;       // "gpt2", "bert", "roberta", "distilbert"
  std::string architecture; // first entry of config.json "architectures", if any
  bool causal = false;
  int num_layers = 0;
  int hidden_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_positions = 0;
  // Sequence classification head, when the folder has one.
  int num_labels = 0;
  std::map<int64_t, std::string> id2label;
  bool multi_label = false;  // problem_type "multi_label_classification": sigmoid, not softmax
};

}  // namespace infer::model
