// The CausalLm every decoding strategy runs on: a decoder architecture plus a paged KV cache and
// the sequences that own blocks in it. Not thread-safe: one caller (the scheduler or a
// single-request loop) drives it.
#pragma once

#include <memory>
#include <unordered_map>

#include "kernels/backend.h"
#include "server/model/decoder_model.h"
#include "server/runtime/causal_lm.h"
#include "server/runtime/kv_cache.h"

namespace infer::runtime {

struct LmEngineOptions {
  int block_size = 16;
  // The KV pool: num_blocks when > 0, else as many blocks as kv_cache_bytes holds.
  int num_blocks = 0;
  int64_t kv_cache_bytes = int64_t{512} << 20;
};

struct StepOptions {
  bool want_hidden = false;   // final hidden state of every appended position
  bool all_logits = false;    // logits of every appended position, not only the last
  model::ForwardCapture* capture = nullptr;  // per-layer hidden states / attention probabilities
};

class LmEngine final : public CausalLm {
 public:
  LmEngine(std::unique_ptr<model::DecoderModel> model, kernels::Backend* backend,
           const LmEngineOptions& options = {});

  int vocab_size() const override { return model_->info().vocab_size; }
  int hidden_size() const override { return model_->info().hidden_size; }
  int max_positions() const override { return model_->info().max_positions; }
  const model::ModelInfo& info() const { return model_->info(); }

  absl::StatusOr<SeqId> NewSequence() override;
  absl::StatusOr<SeqId> Fork(SeqId src) override;
  void Release(SeqId seq) override;
  int Length(SeqId seq) const override;
  absl::Status Step(std::span<const StepItem> items, bool want_hidden, StepOutput* out) override;
  // Step with more outputs. With all_logits, out->logits holds every appended position's row.
  absl::Status StepEx(std::span<const StepItem> items, const StepOptions& options,
                      StepOutput* out);

  const PagedKvCache& cache() const { return cache_; }
  int live_sequences() const { return static_cast<int>(seqs_.size()); }

 private:
  std::unique_ptr<model::DecoderModel> model_;
  kernels::Backend* backend_;
  PagedKvCache cache_;
  std::unordered_map<SeqId, KvSequence> seqs_;
  SeqId next_id_ = 1;
};

// Block count for a pool of `bytes` (at least 1 block).
int KvBlocksForBudget(const KvCacheShape& shape, int64_t bytes);

}  // namespace infer::runtime
