#include "server/runtime/lm_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::runtime {
namespace {

KvCacheShape ShapeFor(const model::ModelInfo& info, const LmEngineOptions& o,
                      kernels::Backend* backend) {
  KvCacheShape s;
  s.num_layers = info.num_layers;
  s.num_kv_heads = info.num_kv_heads;
  s.head_dim = info.head_dim;
  s.block_size = o.block_size;
  s.elem_bytes = static_cast<int>(kernels::DTypeSize(backend->ActivationDType()));
  s.num_blocks = o.num_blocks > 0 ? o.num_blocks : KvBlocksForBudget(s, o.kv_cache_bytes);
  return s;
}

std::string Mib(int64_t bytes) { return absl::StrCat(bytes >> 20, " MiB"); }

}  // namespace

absl::StatusOr<int64_t> KvCacheBytesFor(const model::ModelInfo& info, kernels::Backend* backend,
                                        const LmEngineOptions& o) {
  const kernels::MemoryInfo mem = backend->Memory();
  if (o.device_memory_fraction <= 0 || mem.total_bytes <= 0) return o.kv_cache_bytes;
  const int64_t elem = static_cast<int64_t>(kernels::DTypeSize(backend->ActivationDType()));
  // Activations of the largest step: residual, norm output, q, k, v, attention output, the MLP's
  // hidden layer, and float32 logits for every row (ExplainAttention asks for all of them),
  // plus a fixed margin for cuBLASLt's workspace, the allocator's rounding and the CUDA context.
  const int64_t per_token = (6 * int64_t{info.hidden_size} + info.intermediate_size) * elem +
                            int64_t{info.vocab_size} * 4;
  const int64_t reserve = int64_t{o.reserve_tokens} * per_token + (int64_t{256} << 20);
  const int64_t used = mem.total_bytes - mem.free_bytes;  // weights, context, other models
  const int64_t allowed = static_cast<int64_t>(o.device_memory_fraction * mem.total_bytes);
  const int64_t room = allowed - used - reserve;
  const int64_t budget = room / std::max(1, o.kv_share);
  KvCacheShape shape;
  shape.num_layers = info.num_layers;
  shape.num_kv_heads = info.num_kv_heads;
  shape.head_dim = info.head_dim;
  shape.block_size = o.block_size;
  shape.elem_bytes = static_cast<int>(elem);
  const int64_t one_sequence =
      PagedKvCache::BlockBytes(shape) *
      ((info.max_positions + o.block_size - 1) / std::max(1, o.block_size));
  if (budget < one_sequence) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "device memory leaves no room for the KV cache: ", Mib(allowed),
        " allowed (device_memory_fraction ", o.device_memory_fraction, " of ",
        Mib(mem.total_bytes), "), ", Mib(used), " already used (weights and other models), ",
        Mib(reserve), " reserved for activations of ", o.reserve_tokens, "-token steps; ",
        Mib(one_sequence), " needed for one ", info.max_positions,
        "-token sequence. Raise --gpu-memory-utilization, lower --max-step-tokens, or use a "
        "smaller dtype"));
  }
  return budget;
}

int KvBlocksForBudget(const KvCacheShape& shape, int64_t bytes) {
  return static_cast<int>(std::max<int64_t>(1, bytes / PagedKvCache::BlockBytes(shape)));
}

LmEngine::LmEngine(std::unique_ptr<model::DecoderModel> model, kernels::Backend* backend,
                   const LmEngineOptions& options)
    : model_(std::move(model)),
      backend_(backend),
      cache_(backend, ShapeFor(model_->info(), options, backend)),
      prefix_caching_(options.prefix_caching) {}

LmEngine::Sequence* LmEngine::Find(SeqId seq) {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? nullptr : &it->second;
}

const LmEngine::Sequence* LmEngine::Find(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? nullptr : &it->second;
}

absl::StatusOr<SeqId> LmEngine::NewSequence() {
  SeqId id = next_id_++;
  seqs_.emplace(id, Sequence{});
  return id;
}

absl::StatusOr<SeqId> LmEngine::Fork(SeqId src) {
  const Sequence* s = Find(src);
  if (!s) return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", src));
  SeqId id = next_id_++;
  Sequence copy;
  cache_.Fork(s->kv, &copy.kv);
  copy.tokens = s->tokens;
  copy.keys = s->keys;
  seqs_.emplace(id, std::move(copy));
  return id;
}

void LmEngine::Release(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  cache_.Free(it->second.kv);
  seqs_.erase(it);
}

int LmEngine::Length(SeqId seq) const {
  const Sequence* s = Find(seq);
  return s ? static_cast<int>(s->tokens.size()) : 0;
}

int LmEngine::HistoryLength(SeqId seq) const { return Length(seq); }

int LmEngine::Uncomputed(SeqId seq) const {
  const Sequence* s = Find(seq);
  return s ? static_cast<int>(s->tokens.size()) - s->kv.length : 0;
}

int LmEngine::BlocksNeeded(SeqId seq, int n) const {
  const Sequence* s = Find(seq);
  return s ? cache_.BlocksNeeded(s->kv, n) : 0;
}

void LmEngine::Preempt(SeqId seq) {
  Sequence* s = Find(seq);
  if (!s) return;
  cache_.Free(s->kv);
  s->keys.clear();
}

void LmEngine::set_prefix_caching(bool on) {
  prefix_caching_ = on;
  if (!on) cache_.allocator().ClearCache();
}

absl::Status LmEngine::Extend(SeqId seq, std::span<const int32_t> tokens) {
  Sequence* s = Find(seq);
  if (!s) return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", seq));
  if (absl::Status st = CheckAppend(*s, tokens); !st.ok()) return st;
  s->tokens.insert(s->tokens.end(), tokens.begin(), tokens.end());
  return absl::OkStatus();
}

absl::Status LmEngine::CheckAppend(const Sequence& s, std::span<const int32_t> tokens) const {
  const model::ModelInfo& info = model_->info();
  if (s.tokens.size() + tokens.size() > static_cast<size_t>(info.max_positions)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence would hold ", s.tokens.size() + tokens.size(),
        " tokens, over the model's maximum of ", info.max_positions));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= info.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", t, " is outside the vocabulary [0, ", info.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

int LmEngine::AttachCached(Sequence& s, int limit) {
  const int bs = cache_.shape().block_size;
  BlockAllocator& alloc = cache_.allocator();
  int covered = 0;
  // Never the block holding the last history token: its logits must be computed.
  while (s.kv.length % bs == 0 && covered + bs <= limit &&
         s.kv.length + bs <= static_cast<int>(s.tokens.size()) - 1) {
    const uint64_t parent = s.keys.empty() ? 0 : s.keys.back();
    std::span<const int32_t> block(s.tokens.data() + s.kv.length, bs);
    const uint64_t key = BlockKey(parent, block);
    ++prefix_stats_.queries;
    std::optional<int32_t> hit = alloc.Find(key, parent, block);
    if (!hit) break;
    ++prefix_stats_.hits;
    s.kv.blocks.push_back(*hit);
    s.kv.length += bs;
    s.keys.push_back(key);
    covered += bs;
  }
  return covered;
}

void LmEngine::RegisterFull(Sequence& s) {
  const int bs = cache_.shape().block_size;
  BlockAllocator& alloc = cache_.allocator();
  while (static_cast<int>(s.keys.size()) < s.kv.length / bs) {
    const size_t i = s.keys.size();
    const uint64_t parent = i == 0 ? 0 : s.keys.back();
    std::span<const int32_t> block(s.tokens.data() + i * bs, bs);
    const uint64_t key = BlockKey(parent, block);
    alloc.Register(s.kv.blocks[i], key, parent, block);
    s.keys.push_back(key);
  }
}

void LmEngine::Rollback(Sequence& s, int kv_length) {
  cache_.Truncate(s.kv, kv_length);
  const size_t full = kv_length / cache_.shape().block_size;
  if (s.keys.size() > full) s.keys.resize(full);
}

absl::Status LmEngine::Compute(std::span<const ComputeItem> items, const StepOptions& options,
                               ComputeOutput* out) {
  // Check everything before any block moves.
  std::vector<Sequence*> seqs;
  for (const ComputeItem& item : items) {
    Sequence* s = Find(item.seq);
    if (!s) return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", item.seq));
    if (std::find(seqs.begin(), seqs.end(), s) != seqs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", item.seq, " appears twice"));
    }
    const int uncomputed = static_cast<int>(s->tokens.size()) - s->kv.length;
    if (item.tokens <= 0 || item.tokens > uncomputed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", item.seq, ": asked to compute ", item.tokens, " tokens, ", uncomputed,
          " are uncomputed"));
    }
    seqs.push_back(s);
  }
  const bool per_position = options.want_hidden || options.all_logits || options.capture;
  const bool lookup = prefix_caching_ && !per_position;

  model::DecoderBatch b;
  b.cu_seqlens.push_back(0);
  std::vector<int> old_len(items.size());
  std::vector<int32_t> slots;
  auto rollback = [&](size_t upto) {
    for (size_t j = 0; j < upto; ++j) Rollback(*seqs[j], old_len[j]);
  };
  out->row_begin.assign(items.size(), 0);
  out->row_count.assign(items.size(), 0);
  std::vector<size_t> batch_items;  // items with rows in the batch, in order
  for (size_t i = 0; i < items.size(); ++i) {
    Sequence& s = *seqs[i];
    old_len[i] = s.kv.length;
    const int covered = lookup ? AttachCached(s, items[i].tokens) : 0;
    const int n = items[i].tokens - covered;
    out->row_begin[i] = static_cast<int32_t>(b.tokens.size());
    if (n == 0) continue;  // a chunk the cache held entirely (never a logits item)
    const int start = s.kv.length;
    absl::Status st = cache_.Append(s.kv, n, &slots);
    if (!st.ok()) {
      rollback(i + 1);
      return st;
    }
    for (int k = 0; k < n; ++k) {
      b.tokens.push_back(s.tokens[start + k]);
      b.positions.push_back(start + k);
    }
    b.slots.insert(b.slots.end(), slots.begin(), slots.end());
    b.cu_seqlens.push_back(static_cast<int32_t>(b.tokens.size()));
    b.context_lens.push_back(s.kv.length);
    b.max_blocks = std::max<int>(b.max_blocks, static_cast<int>(s.kv.blocks.size()));
    out->row_count[i] = n;
    batch_items.push_back(i);
  }
  out->computed_tokens = static_cast<int>(b.tokens.size());
  out->logits.clear();
  out->hidden.clear();
  if (batch_items.empty()) return absl::OkStatus();

  b.block_tables.assign(batch_items.size() * b.max_blocks, 0);
  for (size_t j = 0; j < batch_items.size(); ++j) {
    const Sequence& s = *seqs[batch_items[j]];
    std::copy(s.kv.blocks.begin(), s.kv.blocks.end(), b.block_tables.begin() + j * b.max_blocks);
    if (options.all_logits) {
      for (int32_t r = b.cu_seqlens[j]; r < b.cu_seqlens[j + 1]; ++r) b.logit_rows.push_back(r);
    } else if (items[batch_items[j]].logits) {
      b.logit_rows.push_back(b.cu_seqlens[j + 1] - 1);
    }
  }
  b.want_final_hidden = options.want_hidden;

  // A step of prefill chunks only still runs the model to fill the cache; the forward wants at
  // least one logits row, so it computes row 0's and they are dropped (negligible next to the
  // chunk).
  const bool drop_logits = b.logit_rows.empty();
  if (drop_logits) b.logit_rows.push_back(0);
  model::DecoderOutput& dout = forward_out_;
  dout.logits.clear();  // the capacity stays
  dout.final_hidden.clear();
  if (absl::Status st = model_->Forward(b, cache_, options.capture, &dout); !st.ok()) {
    rollback(items.size());
    return st;
  }
  if (drop_logits) dout.logits.clear();
  if (prefix_caching_) {
    for (Sequence* s : seqs) RegisterFull(*s);
  }
  out->logits.swap(dout.logits);
  out->hidden.swap(dout.final_hidden);
  // Keep decode-step-sized buffers only; a one-off large output (all logits of a long input for an
  // explanation) is not held on to.
  constexpr size_t kKeepFloats = size_t{8} << 20;  // 32 MiB
  if (dout.logits.capacity() > kKeepFloats) dout.logits = {};
  if (dout.final_hidden.capacity() > kKeepFloats) dout.final_hidden = {};
  return absl::OkStatus();
}

absl::Status LmEngine::Step(std::span<const StepItem> items, bool want_hidden,
                            StepOutput* out) {
  StepOptions o;
  o.want_hidden = want_hidden;
  return StepEx(items, o, out);
}

absl::Status LmEngine::StepEx(std::span<const StepItem> items, const StepOptions& options,
                              StepOutput* out) {
  // Check every item before any history changes, so a refused step leaves nothing behind.
  const model::ModelInfo& info = model_->info();
  std::vector<Sequence*> seqs;
  for (const StepItem& item : items) {
    Sequence* s = Find(item.seq);
    if (!s) return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", item.seq));
    if (std::find(seqs.begin(), seqs.end(), s) != seqs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", item.seq, " appears twice"));
    }
    if (item.tokens.empty()) return absl::InvalidArgumentError("a step item has no tokens");
    if (absl::Status st = CheckAppend(*s, item.tokens); !st.ok()) return st;
    seqs.push_back(s);
  }
  std::vector<size_t> old_history(items.size());
  std::vector<ComputeItem> work(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    Sequence& s = *seqs[i];
    old_history[i] = s.tokens.size();
    s.tokens.insert(s.tokens.end(), items[i].tokens.begin(), items[i].tokens.end());
    work[i] = ComputeItem{items[i].seq, static_cast<int>(s.tokens.size()) - s.kv.length, true};
  }
  ComputeOutput co;
  absl::Status st = Compute(work, options, &co);
  if (!st.ok()) {
    for (size_t i = 0; i < items.size(); ++i) seqs[i]->tokens.resize(old_history[i]);
    return st;
  }
  out->vocab_size = info.vocab_size;
  out->hidden_size = info.hidden_size;
  out->logits = std::move(co.logits);
  out->hidden.clear();
  if (options.want_hidden) {
    // The rows of the items' own tokens (a preempted sequence also recomputed its history).
    const size_t h = static_cast<size_t>(info.hidden_size);
    for (size_t i = 0; i < items.size(); ++i) {
      const size_t n = items[i].tokens.size();
      const size_t first = co.row_begin[i] + co.row_count[i] - n;
      out->hidden.insert(out->hidden.end(), co.hidden.begin() + first * h,
                         co.hidden.begin() + (first + n) * h);
    }
  }
  return absl::OkStatus();
}

}  // namespace infer::runtime
