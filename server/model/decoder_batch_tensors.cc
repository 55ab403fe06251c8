#include "server/model/decoder_batch_tensors.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace infer::model {
namespace {

kernels::Tensor UploadI32(kernels::Backend* be, const std::vector<int32_t>& v) {
  kernels::Tensor t = be->Alloc({static_cast<int64_t>(std::max<size_t>(v.size(), 1))},
                                kernels::DType::kI32);
  if (!v.empty()) {
    t.shape[0] = static_cast<int64_t>(v.size());
    be->CopyFromHost(v.data(), t);
  }
  return t;
}

}  // namespace

absl::Status ValidateDecoderBatch(const DecoderBatch& b, const ModelInfo& info) {
  const size_t total = b.tokens.size();
  const int n = b.num_seqs();
  if (b.positions.size() != total || b.slots.size() != total ||
      b.cu_seqlens.size() != static_cast<size_t>(n) + 1 ||
      b.block_tables.size() != static_cast<size_t>(n) * b.max_blocks ||
      b.cu_seqlens.front() != 0 || b.cu_seqlens.back() != static_cast<int32_t>(total)) {
    return absl::InternalError("decoder batch arrays have inconsistent sizes");
  }
  for (size_t i = 0; i < total; ++i) {
    if (b.tokens[i] < 0 || b.tokens[i] >= info.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", b.tokens[i], " is outside the vocabulary [0, ", info.vocab_size, ")"));
    }
    if (b.positions[i] < 0 || b.positions[i] >= info.max_positions) {
      return absl::InvalidArgumentError(absl::StrCat("position ", b.positions[i],
                                                     " is past the model's maximum of ",
                                                     info.max_positions, " tokens"));
    }
  }
  for (int32_t r : b.logit_rows) {
    if (r < 0 || static_cast<size_t>(r) >= total) {
      return absl::InternalError("logit row out of range");
    }
  }
  return absl::OkStatus();
}

DecoderBatchTensors::DecoderBatchTensors(kernels::Backend* backend, const DecoderBatch& batch)
    : be_(backend), batch_(batch) {
  cu_seqlens_ = UploadI32(be_, batch.cu_seqlens);
  context_lens_ = UploadI32(be_, batch.context_lens);
  block_tables_ = UploadI32(be_, batch.block_tables);
  slots_ = UploadI32(be_, batch.slots);
}

void DecoderBatchTensors::RunPagedAttention(runtime::PagedKvCache& cache, int layer,
                                            const ModelInfo& info, float scale,
                                            const kernels::Tensor& q, const kernels::Tensor& k,
                                            const kernels::Tensor& v, kernels::Tensor& out,
                                            CaptureRecorder& rec) {
  rec.Qkv(layer, q, k, v);
  const runtime::KvCacheShape& cs = cache.shape();
  kernels::KvWriteParams w;
  w.dtype = k.dtype;
  w.k = k.data;
  w.v = v.data;
  w.k_cache = cache.keys(layer).data;
  w.v_cache = cache.values(layer).data;
  w.slot_mapping = slots_.as<int32_t>();
  w.num_tokens = static_cast<int>(batch_.tokens.size());
  w.num_kv_heads = cs.num_kv_heads;
  w.head_dim = cs.head_dim;
  w.block_size = cs.block_size;
  be_->WriteKv(w);

  kernels::AttentionParams p;
  p.dtype = q.dtype;
  p.q = q.data;
  p.out = out.data;
  p.k_cache = cache.keys(layer).data;
  p.v_cache = cache.values(layer).data;
  p.block_tables = block_tables_.as<int32_t>();
  p.max_blocks_per_seq = batch_.max_blocks;
  p.block_size = cs.block_size;
  p.cu_seqlens_q = cu_seqlens_.as<int32_t>();
  p.context_lens = context_lens_.as<int32_t>();
  p.cu_seqlens_q_host = batch_.cu_seqlens.data();
  p.context_lens_host = batch_.context_lens.data();
  p.num_seqs = batch_.num_seqs();
  p.num_heads = info.num_heads;
  p.num_kv_heads = info.num_kv_heads;
  p.head_dim = info.head_dim;
  p.scale = scale;
  p.causal = true;
  p.probs = rec.AttentionBuffer(layer);
  p.probs_offsets = rec.offsets();
  be_->Attention(p);
}

CaptureRecorder::CaptureRecorder(kernels::Backend* backend, ForwardCapture* capture,
                                 int num_layers, const std::vector<int32_t>& cu_seqlens,
                                 const std::vector<int32_t>& context_lens, int num_heads)
    : be_(backend), capture_(capture) {
  if (capture_ == nullptr) return;
  if (capture_->want_hidden_states) capture_->hidden.assign(num_layers + 1, {});
  for (auto* v : {&capture_->queries, &capture_->keys, &capture_->values}) {
    if (capture_->want_qkv) {
      v->assign(num_layers, {});
    } else {
      v->clear();
    }
  }
  if (capture_->want_attentions) {
    capture_->attentions.assign(num_layers, {});
    capture_->attention_offsets.clear();
    int64_t total = 0;
    for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
      capture_->attention_offsets.push_back(total);
      total += int64_t{num_heads} * (cu_seqlens[s + 1] - cu_seqlens[s]) * context_lens[s];
    }
    probs_ = be_->Alloc({std::max<int64_t>(total, 1)});
    probs_.shape[0] = total;
    offsets_dev_ = be_->Alloc({static_cast<int64_t>(capture_->attention_offsets.size())},
                              kernels::DType::kI64);
    be_->CopyFromHost(capture_->attention_offsets.data(), offsets_dev_);
  }
}

void CaptureRecorder::Hidden(int index, const kernels::Tensor& x) {
  if (capture_ == nullptr || !capture_->want_hidden_states) return;
  capture_->hidden[index].resize(x.numel());
  be_->CopyToHostF32(x, capture_->hidden[index].data());
}

void CaptureRecorder::Qkv(int layer, const kernels::Tensor& q, const kernels::Tensor& k,
                          const kernels::Tensor& v) {
  if (capture_ == nullptr || !capture_->want_qkv) return;
  const kernels::Tensor* src[] = {&q, &k, &v};
  std::vector<float>* dst[] = {&capture_->queries[layer], &capture_->keys[layer],
                               &capture_->values[layer]};
  for (int i = 0; i < 3; ++i) {
    dst[i]->resize(src[i]->numel());
    if (src[i]->numel() > 0) be_->CopyToHostF32(*src[i], dst[i]->data());
  }
}

float* CaptureRecorder::AttentionBuffer(int layer) {
  if (capture_ == nullptr || !capture_->want_attentions) return nullptr;
  return probs_.as<float>();
}

void CaptureRecorder::FinishAttention(int layer) {
  if (capture_ == nullptr || !capture_->want_attentions) return;
  capture_->attentions[layer].resize(probs_.numel());
  if (probs_.numel() > 0) be_->CopyToHost(probs_, capture_->attentions[layer].data());
}

absl::Status FinishDecoderOutput(kernels::Backend* be, const DecoderBatch& batch,
                                 const kernels::Tensor& x, const kernels::Tensor& lm_head,
                                 int vocab, DecoderOutput* out) {
  if (batch.want_final_hidden) {
    out->final_hidden.resize(x.numel());
    be->CopyToHostF32(x, out->final_hidden.data());
  } else {
    out->final_hidden.clear();
  }
  const int64_t rows = static_cast<int64_t>(batch.logit_rows.size());
  out->logits.clear();
  if (rows == 0) return absl::OkStatus();
  kernels::Tensor sel = be->AllocActivation({rows, x.dim(1)});
  be->GatherRows(x, batch.logit_rows, sel);
  LmHeadLogits(be, sel, lm_head, vocab, &out->logits);
  return absl::OkStatus();
}

std::vector<float> TransposedToHost(kernels::Backend* be, const kernels::Tensor& w) {
  const int64_t out = w.dim(0), in = w.dim(1);
  std::vector<float> raw(w.numel()), t(w.numel());
  be->CopyToHostF32(w, raw.data());
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) t[i * out + o] = raw[o * in + i];
  }
  return t;
}

absl::Status CheckRows(std::span<const float> states, int64_t rows, int64_t width) {
  if (rows < 0 || states.size() != static_cast<size_t>(rows * width)) {
    return absl::InvalidArgumentError(absl::StrCat("states hold ", states.size(),
                                                   " values, not ", rows, " rows of ", width));
  }
  return absl::OkStatus();
}

kernels::Tensor UploadRows(kernels::Backend* be, std::span<const float> states, int64_t rows,
                           int64_t width) {
  kernels::Tensor x = be->AllocActivation({rows, width});
  be->CopyFromHostF32(states.data(), x);
  return x;
}

void LmHeadLogits(kernels::Backend* be, const kernels::Tensor& x, const kernels::Tensor& lm_head,
                  int vocab, std::vector<float>* logits) {
  const int64_t rows = x.dim(0);
  kernels::Tensor y = be->Alloc({rows, vocab});  // float32 logits whatever the activations
  be->Linear(x, lm_head, nullptr, kernels::Activation::kNone, y);
  logits->resize(rows * vocab);
  be->CopyToHostF32(y, logits->data());
}

}  // namespace infer::model
