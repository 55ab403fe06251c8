// Zero-shot classification, three ways, on already-tokenized inputs:
//  * causal LM: how likely is each label word after a prompt (the "positive"/"negative" trick);
//  * NLI model: does the text entail "This example is {label}." (transformers'
//    ZeroShotClassificationPipeline semantics, single- and multi-label);
//  * embedding model: cosine similarity of the text to each label description.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"

namespace infer::tasks {

struct ZeroShotScores {
  std::vector<double> scores;  // per label: log-probability (LM), entailment logit (NLI),
                               // cosine similarity (embeddings)
  std::vector<double> probs;   // per label; sum to 1 unless multi-label NLI
};

// log P(continuation | prompt) for every continuation, in one prefill plus one batched step over
// forks of the prompt. Continuations must be non-empty. Every sequence is released.
absl::StatusOr<std::vector<double>> ScoreContinuations(
    runtime::CausalLm& lm, std::span<const int32_t> prompt,
    std::span<const std::vector<int32_t>> continuations);

// Label probabilities = softmax over the labels' log-probabilities (divided by their token
// counts first when length_normalize, so multi-token labels are not penalised).
absl::StatusOr<ZeroShotScores> LmZeroShot(runtime::CausalLm& lm, std::span<const int32_t> prompt,
                                          std::span<const std::vector<int32_t>> label_tokens,
                                          bool length_normalize);

struct NliLabelIds {
  int entailment = -1;
  int contradiction = -1;
};
// Finds the ids whose names start with "entail" / "contra" (case-insensitive), as transformers
// does; INVALID_ARGUMENT naming the labels when the model is not an NLI model.
absl::StatusOr<NliLabelIds> FindNliLabelIds(const std::map<int64_t, std::string>& id2label);

// logits: [labels, num_model_labels] for the pairs (text, hypothesis(label)).
// Single-label: softmax over labels of the entailment logits. Multi-label: per label, softmax of
// (contradiction, entailment) and the entailment probability.
ZeroShotScores NliZeroShotFromLogits(std::span<const std::vector<float>> logits,
                                     const NliLabelIds& ids, bool multi_label);

// scores = cosine(text, label); probs = softmax(scores / temperature).
ZeroShotScores EmbeddingZeroShot(std::span<const float> text,
                                 std::span<const std::vector<float>> labels, double temperature);

std::vector<double> SoftmaxD(std::span<const double> x);

}  // namespace infer::tasks
