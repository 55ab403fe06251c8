// Contrastive search as transformers 4.46 `_contrastive_search` (Su et al., "A Contrastive
// Framework for Neural Text Generation"):
//  - the prompt is prefilled with hidden states; the context holds the final-layer hidden state of
//    every prompt position and of every chosen token;
//  - each step takes the top_k tokens of softmax(processed logits) as candidates, steps all of them
//    as one batch (the sequence plus top_k - 1 forks of it), and scores candidate i as
//    (1 - alpha) * p_i - alpha * max_j cos(h_i, context_j);
//  - the best candidate (first on ties) is kept, its hidden state joins the context, its step's
//    logits are the next ones, and the other forks are released.
// Logits processors apply as in greedy search (no warpers). The decoder is MakeContrastiveDecoder
// (decoder.h).
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/decode_setup.h"
#include "server/runtime/decoder.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"

namespace infer::runtime {

// transformers' _ranking_fast for one row: context [context_len, hidden], candidates
// [k, hidden], probs [k]. Returns the index of the best candidate.
int ContrastiveRank(std::span<const float> context, std::span<const float> candidates,
                    std::span<const float> probs, int hidden, double alpha);

}  // namespace infer::runtime
