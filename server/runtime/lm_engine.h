// The CausalLm every decoding strategy runs on: a decoder architecture plus a paged KV cache and
// the sequences that own blocks in it. Not thread-safe: one caller (the scheduler or a
// single-request loop) drives it.
//
// Each sequence keeps its whole token history, and only part of it may be in the cache:
// Extend() appends tokens without computing them, Compute() computes the next n uncomputed
// tokens (a prefill chunk), and Preempt() drops a sequence's blocks so that a later Compute
// recomputes it (vLLM's preemption by recomputation). With prefix caching, Compute first
// attaches cached full blocks that hold exactly the sequence's next tokens.
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
  bool prefix_caching = true;
  // Device backends (Backend::Memory() reports a total): when > 0, kv_cache_bytes is replaced by
  // what device memory allows (vLLM's gpu_memory_utilization): the memory left under this
  // fraction of the device's total, after the weights already loaded and an activation reserve
  // for steps of reserve_tokens tokens, divided among kv_share models still to be sized on
  // the same device (this one included). See KvCacheBytesFor.
  double device_memory_fraction = 0;
  int reserve_tokens = 512;
  int kv_share = 1;
};

// The KV pool's byte budget for a model on `backend` under `options` (kv_cache_bytes on host
// backends). RESOURCE_EXHAUSTED, with the sizes, when device memory leaves no room for even the
// blocks one max-length sequence needs.
absl::StatusOr<int64_t> KvCacheBytesFor(const model::ModelInfo& info, kernels::Backend* backend,
                                        const LmEngineOptions& options);

struct StepOptions {
  bool want_hidden = false;   // final hidden state of every appended position
  bool all_logits = false;    // logits of every appended position, not only the last
  model::ForwardCapture* capture = nullptr;  // per-layer hidden states / attention probabilities
};

// One sequence's share of a Compute: its next `tokens` uncomputed tokens; `logits` asks for the
// next-token logits of the last of them.
struct ComputeItem {
  SeqId seq = -1;
  int tokens = 0;
  bool logits = true;
};

struct ComputeOutput {
  // [items with logits, vocab] in item order.
  std::vector<float> logits;
  // With StepOptions::want_hidden: [computed rows, hidden]; item i's rows start at
  // row_begin[i] and number row_count[i] (fewer than asked when cached blocks were attached).
  std::vector<float> hidden;
  std::vector<int32_t> row_begin, row_count;
  int computed_tokens = 0;  // rows the model ran
};

struct PrefixCacheStats {
  int64_t queries = 0;  // full blocks looked up
  int64_t hits = 0;     // found and attached
};

class LmEngine final : public CausalLm {
 public:
  LmEngine(std::unique_ptr<model::DecoderModel> model, kernels::Backend* backend,
           const LmEngineOptions& options = {});

  int vocab_size() const override { return model_->info().vocab_size; }
  int hidden_size() const override { return model_->info().hidden_size; }
  int max_positions() const override { return model_->info().max_positions; }
  const model::ModelInfo& info() const { return model_->info(); }
  // The architecture itself, for explanations (attention weights, scale, the logit lens). Not
  // thread-safe, like the engine: call it from the thread that drives the engine.
  const model::DecoderModel& model() const { return *model_; }
  model::DecoderModel& model() { return *model_; }

  absl::StatusOr<SeqId> NewSequence() override;
  absl::StatusOr<SeqId> Fork(SeqId src) override;
  void Release(SeqId seq) override;
  int Length(SeqId seq) const override;
  absl::Status Step(std::span<const StepItem> items, bool want_hidden, StepOutput* out) override;
  // Step with more outputs. With all_logits, out->logits holds every appended position's row.
  absl::Status StepEx(std::span<const StepItem> items, const StepOptions& options,
                      StepOutput* out);

  // --- The scheduler's finer-grained interface.
  // Appends tokens to the sequence's history without computing them. INVALID_ARGUMENT (and
  // nothing changes) for ids outside the vocabulary or a history over max_positions.
  absl::Status Extend(SeqId seq, std::span<const int32_t> tokens);
  // History tokens not in the cache.
  int Uncomputed(SeqId seq) const;
  // Tokens in the history.
  int HistoryLength(SeqId seq) const;
  // Pool blocks computing the next n tokens would take (at most; cached blocks may cover some).
  int BlocksNeeded(SeqId seq, int n) const;
  // Drops the sequence's blocks (cached full blocks stay findable); its history is kept and the
  // next Compute recomputes it.
  void Preempt(SeqId seq);
  // Computes each item's next tokens as one batch. Prefix-cache lookups happen only when no
  // per-position output (hidden states, all logits, capture) is asked for, and never cover a
  // sequence's last history token, so an item that wants logits always computes at least one.
  // On error nothing changes.
  absl::Status Compute(std::span<const ComputeItem> items, const StepOptions& options,
                       ComputeOutput* out);

  const PagedKvCache& cache() const { return cache_; }
  int live_sequences() const { return static_cast<int>(seqs_.size()); }
  int free_blocks() const { return cache_.allocator().num_free(); }
  int used_blocks() const { return cache_.allocator().num_used(); }
  int total_blocks() const { return cache_.allocator().num_blocks(); }
  int block_size() const { return cache_.shape().block_size; }
  bool prefix_caching() const { return prefix_caching_; }
  // Off also forgets every cached block.
  void set_prefix_caching(bool on);
  const PrefixCacheStats& prefix_stats() const { return prefix_stats_; }

 private:
  struct Sequence {
    KvSequence kv;                  // kv.length tokens of `tokens` are in the cache
    std::vector<int32_t> tokens;    // the whole history
    std::vector<uint64_t> keys;     // prefix-cache key of each full cached block, in order
  };
  Sequence* Find(SeqId seq);
  const Sequence* Find(SeqId seq) const;
  // INVALID_ARGUMENT for ids outside the vocabulary or a history over max_positions.
  absl::Status CheckAppend(const Sequence& s, std::span<const int32_t> tokens) const;
  // Attaches cached blocks for up to `limit` of the sequence's next tokens; returns tokens covered.
  int AttachCached(Sequence& s, int limit);
  // Registers the sequence's newly full blocks in the prefix cache.
  void RegisterFull(Sequence& s);
  void Rollback(Sequence& s, int kv_length);

  std::unique_ptr<model::DecoderModel> model_;
  kernels::Backend* backend_;
  PagedKvCache cache_;
  std::unordered_map<SeqId, Sequence> seqs_;
  // The forward's output buffers, kept from step to step: Compute swaps them with the caller's,
  // so a caller that keeps its ComputeOutput too (the scheduler) reuses two logits buffers
  // instead of allocating, page-faulting and zeroing megabytes every decode step.
  model::DecoderOutput forward_out_;
  SeqId next_id_ = 1;
  bool prefix_caching_ = true;
  PrefixCacheStats prefix_stats_;
};

// Block count for a pool of `bytes` (at least 1 block).
int KvBlocksForBudget(const KvCacheShape& shape, int64_t bytes);

}  // namespace infer::runtime
