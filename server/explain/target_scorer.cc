#include "server/explain/target_scorer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::explain {
namespace {

double LogSoftmaxAt(const float* row, int n, int index) {
  float mx = row[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, row[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return static_cast<double>(row[index]) - mx - std::log(sum);
}

// One batch of causal variants [begin, end): phase A computes each prefix up to the first target
// position with prefix-cache lookups; phase B computes the target positions with every row's
// logits.
absl::Status CausalBatch(runtime::LmEngine& lm, const std::vector<std::vector<int32_t>>& variants,
                         size_t begin, size_t end, const ScoreTarget& target,
                         VariantScores* scores) {
  std::vector<runtime::SeqId> seqs;
  auto release = [&] {
    for (runtime::SeqId s : seqs) lm.Release(s);
  };
  for (size_t v = begin; v < end; ++v) {
    absl::StatusOr<runtime::SeqId> seq = lm.NewSequence();
    if (!seq.ok()) {
      release();
      return seq.status();
    }
    seqs.push_back(*seq);
    if (absl::Status s = lm.Extend(*seq, variants[v]); !s.ok()) {
      release();
      return s;
    }
  }
  const int first = target.first_position;
  const int n_targets = static_cast<int>(target.ids.size());
  if (first > 0) {
    std::vector<runtime::ComputeItem> items;
    for (runtime::SeqId s : seqs) items.push_back({s, first, false});
    runtime::ComputeOutput out;
    if (absl::Status s = lm.Compute(items, {}, &out); !s.ok()) {
      release();
      return s;
    }
    ++scores->engine_calls;
  }
  std::vector<runtime::ComputeItem> items;
  for (runtime::SeqId s : seqs) items.push_back({s, n_targets, true});
  runtime::StepOptions options;
  options.all_logits = true;
  runtime::ComputeOutput out;
  absl::Status s = lm.Compute(items, options, &out);
  release();
  INFER_RETURN_IF_ERROR(s);
  ++scores->engine_calls;
  const int vocab = lm.vocab_size();
  if (out.logits.size() != (end - begin) * n_targets * static_cast<size_t>(vocab)) {
    return absl::InternalError("scoring returned the wrong number of logits rows");
  }
  for (size_t v = 0; v < end - begin; ++v) {
    std::vector<double> lp(n_targets);
    for (int k = 0; k < n_targets; ++k) {
      const float* row = out.logits.data() + (v * n_targets + k) * static_cast<size_t>(vocab);
      lp[k] = LogSoftmaxAt(row, vocab, target.ids[k]);
    }
    scores->log_probs.push_back(std::move(lp));
  }
  return absl::OkStatus();
}

absl::Status ScoreCausal(runtime::LmEngine& lm, const std::vector<std::vector<int32_t>>& variants,
                         const ScoreTarget& target, const ScoreLimits& limits,
                         VariantScores* scores) {
  const int n_targets = static_cast<int>(target.ids.size());
  const size_t length = static_cast<size_t>(target.first_position) + n_targets;
  if (n_targets == 0 || target.first_position < 0) {
    return absl::InternalError("scoring needs at least one target position");
  }
  for (const auto& v : variants) {
    if (v.size() != length) return absl::InternalError("a variant has the wrong length");
  }
  const int64_t vocab = lm.vocab_size();
  const int64_t per_variant_rows = std::max<int64_t>(1, limits.max_logit_floats / vocab);
  const int64_t max_by_logits = std::max<int64_t>(1, per_variant_rows / n_targets);
  const int64_t max_by_tokens =
      std::max<int64_t>(1, limits.max_batch_tokens / static_cast<int64_t>(length));
  // The first variant runs alone so that its blocks are in the prefix cache before the others
  // look them up (variants of one batch cannot share what none has computed yet).
  size_t begin = 0;
  while (begin < variants.size()) {
    size_t end = begin == 0 ? 1
                            : std::min(variants.size(),
                                       begin + static_cast<size_t>(
                                                   std::min(max_by_logits, max_by_tokens)));
    // Fewer variants when the pool has not the blocks for all of them (a worst case: no hits).
    const int per_seq_blocks = (static_cast<int>(length) + lm.block_size() - 1) / lm.block_size();
    const size_t fit = static_cast<size_t>(std::max(1, lm.free_blocks() / std::max(1, per_seq_blocks)));
    end = std::min(end, begin + fit);
    INFER_RETURN_IF_ERROR(CausalBatch(lm, variants, begin, end, target, scores));
    begin = end;
  }
  return absl::OkStatus();
}

absl::Status ScoreEncoder(model::EncoderModel& enc,
                          const std::vector<std::vector<int32_t>>& variants,
                          std::span<const int32_t> type_ids, const ScoreTarget& target,
                          const ScoreLimits& limits, VariantScores* scores) {
  if (!enc.has_classifier()) {
    return absl::InvalidArgumentError(
        "attributions on an encoder need a classification head to score; this model has none");
  }
  const int labels = enc.info().num_labels;
  if (target.label < 0 || target.label >= labels) {
    return absl::InternalError(absl::StrCat("label ", target.label, " is out of range"));
  }
  size_t begin = 0;
  while (begin < variants.size()) {
    model::EncoderBatch batch;
    batch.cu_seqlens.push_back(0);
    size_t end = begin;
    while (end < variants.size() &&
           (end == begin || static_cast<int64_t>(batch.tokens.size() + variants[end].size()) <=
                                limits.max_batch_tokens)) {
      const auto& v = variants[end];
      batch.tokens.insert(batch.tokens.end(), v.begin(), v.end());
      if (type_ids.size() == v.size()) {
        batch.type_ids.insert(batch.type_ids.end(), type_ids.begin(), type_ids.end());
      } else {
        batch.type_ids.insert(batch.type_ids.end(), v.size(), 0);
      }
      batch.cu_seqlens.push_back(static_cast<int32_t>(batch.tokens.size()));
      ++end;
    }
    model::EncoderOutput out;
    INFER_RETURN_IF_ERROR(enc.Forward(batch, nullptr, &out));
    ++scores->engine_calls;
    if (out.class_logits.size() != (end - begin) * static_cast<size_t>(labels)) {
      return absl::InternalError("the classifier returned the wrong number of logits");
    }
    for (size_t v = 0; v < end - begin; ++v) {
      scores->log_probs.push_back(
          {LogSoftmaxAt(out.class_logits.data() + v * labels, labels, target.label)});
    }
    begin = end;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VariantScores> ScoreVariants(tasks::TaskModel& model,
                                            const std::vector<std::vector<int32_t>>& variants,
                                            std::span<const int32_t> type_ids,
                                            const ScoreTarget& target,
                                            const ScoreLimits& limits) {
  VariantScores scores;
  if (runtime::LmEngine* lm = model.lm()) {
    INFER_RETURN_IF_ERROR(ScoreCausal(*lm, variants, target, limits, &scores));
  } else {
    INFER_RETURN_IF_ERROR(
        ScoreEncoder(*model.encoder(), variants, type_ids, target, limits, &scores));
  }
  return scores;
}

}  // namespace infer::explain
