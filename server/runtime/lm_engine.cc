#include "server/runtime/lm_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::runtime {
namespace {

KvCacheShape ShapeFor(const model::ModelInfo& info, const LmEngineOptions& o) {
  KvCacheShape s;
  s.num_layers = info.num_layers;
  s.num_kv_heads = info.num_kv_heads;
  s.head_dim = info.head_dim;
  s.block_size = o.block_size;
  s.num_blocks = o.num_blocks > 0 ? o.num_blocks : KvBlocksForBudget(s, o.kv_cache_bytes);
  return s;
}

}  // namespace

int KvBlocksForBudget(const KvCacheShape& shape, int64_t bytes) {
  return static_cast<int>(std::max<int64_t>(1, bytes / PagedKvCache::BlockBytes(shape)));
}

LmEngine::LmEngine(std::unique_ptr<model::DecoderModel> model, kernels::Backend* backend,
                   const LmEngineOptions& options)
    : model_(std::move(model)),
      backend_(backend),
      cache_(backend, ShapeFor(model_->info(), options)) {}

absl::StatusOr<SeqId> LmEngine::NewSequence() {
  SeqId id = next_id_++;
  seqs_.emplace(id, KvSequence{});
  return id;
}

absl::StatusOr<SeqId> LmEngine::Fork(SeqId src) {
  auto it = seqs_.find(src);
  if (it == seqs_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", src));
  }
  SeqId id = next_id_++;
  KvSequence copy;
  cache_.Fork(it->second, &copy);
  seqs_.emplace(id, std::move(copy));
  return id;
}

void LmEngine::Release(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  cache_.Free(it->second);
  seqs_.erase(it);
}

int LmEngine::Length(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.length;
}

absl::Status LmEngine::Step(std::span<const StepItem> items, bool want_hidden,
                            StepOutput* out) {
  StepOptions o;
  o.want_hidden = want_hidden;
  return StepEx(items, o, out);
}

absl::Status LmEngine::StepEx(std::span<const StepItem> items, const StepOptions& options,
                              StepOutput* out) {
  const model::ModelInfo& info = model_->info();
  // Check everything before any block moves.
  std::vector<KvSequence*> seqs;
  for (const StepItem& item : items) {
    auto it = seqs_.find(item.seq);
    if (it == seqs_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", item.seq));
    }
    if (std::find(seqs.begin(), seqs.end(), &it->second) != seqs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", item.seq, " appears twice"));
    }
    if (item.tokens.empty()) {
      return absl::InvalidArgumentError("a step item has no tokens");
    }
    if (it->second.length + static_cast<int64_t>(item.tokens.size()) > info.max_positions) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence would hold ", it->second.length + item.tokens.size(),
          " tokens, over the model's maximum of ", info.max_positions));
    }
    for (int32_t t : item.tokens) {
      if (t < 0 || t >= info.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token id ", t, " is outside the vocabulary [0, ", info.vocab_size, ")"));
      }
    }
    seqs.push_back(&it->second);
  }

  model::DecoderBatch b;
  b.cu_seqlens.push_back(0);
  std::vector<int> old_len;
  std::vector<int32_t> slots;
  for (size_t i = 0; i < items.size(); ++i) {
    KvSequence& s = *seqs[i];
    old_len.push_back(s.length);
    absl::Status st = cache_.Append(s, static_cast<int>(items[i].tokens.size()), &slots);
    if (!st.ok()) {
      for (size_t j = 0; j < i; ++j) cache_.Truncate(*seqs[j], old_len[j]);
      return st;
    }
    for (size_t k = 0; k < items[i].tokens.size(); ++k) {
      b.tokens.push_back(items[i].tokens[k]);
      b.positions.push_back(old_len[i] + static_cast<int32_t>(k));
    }
    b.slots.insert(b.slots.end(), slots.begin(), slots.end());
    b.cu_seqlens.push_back(static_cast<int32_t>(b.tokens.size()));
    b.context_lens.push_back(s.length);
    b.max_blocks = std::max<int>(b.max_blocks, static_cast<int>(s.blocks.size()));
  }
  b.block_tables.assign(items.size() * b.max_blocks, 0);
  for (size_t i = 0; i < items.size(); ++i) {
    std::copy(seqs[i]->blocks.begin(), seqs[i]->blocks.end(),
              b.block_tables.begin() + i * b.max_blocks);
    if (options.all_logits) {
      for (int32_t r = b.cu_seqlens[i]; r < b.cu_seqlens[i + 1]; ++r) b.logit_rows.push_back(r);
    } else {
      b.logit_rows.push_back(b.cu_seqlens[i + 1] - 1);
    }
  }
  b.want_final_hidden = options.want_hidden;

  model::DecoderOutput dout;
  absl::Status st = model_->Forward(b, cache_, options.capture, &dout);
  if (!st.ok()) {
    for (size_t i = 0; i < items.size(); ++i) cache_.Truncate(*seqs[i], old_len[i]);
    return st;
  }
  out->vocab_size = info.vocab_size;
  out->hidden_size = info.hidden_size;
  out->logits = std::move(dout.logits);
  out->hidden = std::move(dout.final_hidden);
  return absl::OkStatus();
}

}  // namespace infer::runtime
