#include "server/model/gpt2.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/model/activation_name.h"
#include "server/model/config_json.h"
#include "server/model/decoder_batch_tensors.h"
#include "server/model/weight_loader.h"
#include "server/util/backend_errors.h"
#include "server/util/status_macros.h"

namespace infer::model {
namespace {

using kernels::Activation;
using kernels::Backend;
using kernels::Tensor;

struct Gpt2Layer {
  Tensor ln1_g, ln1_b, wq, wk, wv, bq, bk, bv, wo, bo, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj;
};

class Gpt2 final : public DecoderModel {
 public:
  const ModelInfo& info() const override { return info_; }

  static absl::StatusOr<std::unique_ptr<DecoderModel>> Load(const ModelFolder& folder,
                                                           Backend* backend);

  absl::Status Forward(const DecoderBatch& batch, runtime::PagedKvCache& cache,
                       ForwardCapture* capture, DecoderOutput* out) override {
    return util::CatchBackendErrors([&] { return Run(batch, cache, capture, out); });
  }
  absl::StatusOr<std::vector<float>> AttentionOutputWeight(int layer) const override;
  float AttentionScale(int layer) const override;
  absl::Status LensLogits(std::span<const float> states, int64_t rows, bool apply_final_norm,
                          std::vector<float>* logits) override {
    return util::CatchBackendErrors([&] { return Lens(states, rows, apply_final_norm, logits); });
  }

 private:
  absl::Status Run(const DecoderBatch& batch, runtime::PagedKvCache& cache,
                   ForwardCapture* capture, DecoderOutput* out);
  absl::Status Lens(std::span<const float> states, int64_t rows, bool apply_final_norm,
                    std::vector<float>* logits);

  Backend* be_ = nullptr;
  ModelInfo info_;
  float eps_ = 1e-5f;
  Activation act_ = Activation::kGeluTanh;
  bool scale_attn_weights_ = true;
  bool scale_by_layer_ = false;
  Tensor wte_, wpe_, lnf_g_, lnf_b_, lm_head_;
  std::vector<Gpt2Layer> layers_;
};

absl::StatusOr<std::unique_ptr<DecoderModel>> Gpt2::Load(const ModelFolder& folder,
                                                         Backend* backend) {
  auto m = std::make_unique<Gpt2>();
  m->be_ = backend;
  const nlohmann::json& c = folder.config;
  ModelInfo& info = m->info_;
  info.family = "gpt2";
  info.architecture = folder.architectures.empty() ? "GPT2LMHeadModel" : folder.architectures[0];
  info.causal = true;
  INFER_ASSIGN_OR_RETURN(int64_t e, GetPositiveInt(c, "n_embd", 768));
  INFER_ASSIGN_OR_RETURN(int64_t layers, GetPositiveInt(c, "n_layer", 12));
  INFER_ASSIGN_OR_RETURN(int64_t heads, GetPositiveInt(c, "n_head", 12));
  INFER_ASSIGN_OR_RETURN(int64_t vocab, GetPositiveInt(c, "vocab_size", 50257));
  INFER_ASSIGN_OR_RETURN(int64_t positions, GetPositiveInt(c, "n_positions", 1024));
  INFER_ASSIGN_OR_RETURN(int64_t inner, GetPositiveInt(c, "n_inner", 4 * e));
  INFER_ASSIGN_OR_RETURN(double eps, GetFloat(c, "layer_norm_epsilon", 1e-5));
  INFER_ASSIGN_OR_RETURN(std::string act, GetString(c, "activation_function", "gelu_new"));
  INFER_ASSIGN_OR_RETURN(m->act_, ParseActivation(act, "activation_function"));
  INFER_ASSIGN_OR_RETURN(m->scale_attn_weights_, GetBool(c, "scale_attn_weights", true));
  INFER_ASSIGN_OR_RETURN(m->scale_by_layer_,
                         GetBool(c, "scale_attn_by_inverse_layer_idx", false));
  INFER_ASSIGN_OR_RETURN(bool tied, GetBool(c, "tie_word_embeddings", true));
  if (e % heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: n_embd (", e, ") is not divisible by n_head (", heads, ")"));
  }
  if (layers > 1024 || e > 65536 || vocab > 4000000 || positions > 1000000) {
    return absl::InvalidArgumentError("config.json: model dimensions are implausibly large");
  }
  info.num_layers = static_cast<int>(layers);
  info.hidden_size = static_cast<int>(e);
  info.num_heads = info.num_kv_heads = static_cast<int>(heads);
  info.head_dim = static_cast<int>(e / heads);
  info.intermediate_size = static_cast<int>(inner);
  info.vocab_size = static_cast<int>(vocab);
  info.max_positions = static_cast<int>(positions);
  m->eps_ = static_cast<float>(eps);

  WeightLoader w(folder.weights, backend, {"transformer.", ""});
  INFER_ASSIGN_OR_RETURN(m->wte_, w.Load("wte.weight", {vocab, e}));
  INFER_ASSIGN_OR_RETURN(m->wpe_, w.Load("wpe.weight", {positions, e}));
  INFER_ASSIGN_OR_RETURN(m->lnf_g_, w.Load("ln_f.weight", {e}));
  INFER_ASSIGN_OR_RETURN(m->lnf_b_, w.Load("ln_f.bias", {e}));
  m->lm_head_ = m->wte_;
  if (!tied) {
    WeightLoader head(folder.weights, backend, {""});
    INFER_ASSIGN_OR_RETURN(m->lm_head_, head.Load("lm_head.weight", {vocab, e}));
  }
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = absl::StrCat("h.", l, ".");
    Gpt2Layer L;
    INFER_ASSIGN_OR_RETURN(L.ln1_g, w.Load(p + "ln_1.weight", {e}));
    INFER_ASSIGN_OR_RETURN(L.ln1_b, w.Load(p + "ln_1.bias", {e}));
    // c_attn is a Conv1D [e, 3e] whose output columns are q | k | v.
    INFER_ASSIGN_OR_RETURN(L.wq, w.LoadTransposedSlice(p + "attn.c_attn.weight", e, 3 * e, 0, e));
    INFER_ASSIGN_OR_RETURN(L.wk,
                           w.LoadTransposedSlice(p + "attn.c_attn.weight", e, 3 * e, e, 2 * e));
    INFER_ASSIGN_OR_RETURN(L.wv, w.LoadTransposedSlice(p + "attn.c_attn.weight", e, 3 * e, 2 * e,
                                                       3 * e));
    INFER_ASSIGN_OR_RETURN(L.bq, w.LoadSlice(p + "attn.c_attn.bias", 3 * e, 0, e));
    INFER_ASSIGN_OR_RETURN(L.bk, w.LoadSlice(p + "attn.c_attn.bias", 3 * e, e, 2 * e));
    INFER_ASSIGN_OR_RETURN(L.bv, w.LoadSlice(p + "attn.c_attn.bias", 3 * e, 2 * e, 3 * e));
    INFER_ASSIGN_OR_RETURN(L.wo, w.LoadTransposed(p + "attn.c_proj.weight", e, e));
    INFER_ASSIGN_OR_RETURN(L.bo, w.Load(p + "attn.c_proj.bias", {e}));
    INFER_ASSIGN_OR_RETURN(L.ln2_g, w.Load(p + "ln_2.weight", {e}));
    INFER_ASSIGN_OR_RETURN(L.ln2_b, w.Load(p + "ln_2.bias", {e}));
    INFER_ASSIGN_OR_RETURN(L.w_fc, w.LoadTransposed(p + "mlp.c_fc.weight", e, inner));
    INFER_ASSIGN_OR_RETURN(L.b_fc, w.Load(p + "mlp.c_fc.bias", {inner}));
    INFER_ASSIGN_OR_RETURN(L.w_proj, w.LoadTransposed(p + "mlp.c_proj.weight", inner, e));
    INFER_ASSIGN_OR_RETURN(L.b_proj, w.Load(p + "mlp.c_proj.bias", {e}));
    m->layers_.push_back(std::move(L));
  }
  return std::unique_ptr<DecoderModel>(std::move(m));
}

absl::Status Gpt2::Run(const DecoderBatch& batch, runtime::PagedKvCache& cache,
                       ForwardCapture* capture, DecoderOutput* out) {
  INFER_RETURN_IF_ERROR(ValidateDecoderBatch(batch, info_));
  const int64_t t = static_cast<int64_t>(batch.tokens.size());
  const int64_t e = info_.hidden_size;
  DecoderBatchTensors bt(be_, batch);

  Tensor x = be_->AllocActivation({t, e});
  be_->Embedding(wte_, batch.tokens.data(), t, false, x);
  be_->Embedding(wpe_, batch.positions.data(), t, true, x);
  CaptureRecorder rec(be_, capture, info_.num_layers, batch, info_.num_heads);
  rec.Hidden(0, x);

  Tensor h = be_->AllocActivation({t, e}), q = be_->AllocActivation({t, e}),
         k = be_->AllocActivation({t, e}), v = be_->AllocActivation({t, e}),
         a = be_->AllocActivation({t, e});
  Tensor mlp = be_->AllocActivation({t, info_.intermediate_size});
  be_->LayerNorm(x, layers_[0].ln1_g, layers_[0].ln1_b, eps_, h);
  for (int l = 0; l < info_.num_layers; ++l) {
    const Gpt2Layer& L = layers_[l];
    be_->Linear(h, L.wq, &L.bq, Activation::kNone, q);
    be_->Linear(h, L.wk, &L.bk, Activation::kNone, k);
    be_->Linear(h, L.wv, &L.bv, Activation::kNone, v);
    bt.RunPagedAttention(cache, l, info_, AttentionScale(l), q, k, v, a, rec);
    be_->Linear(a, L.wo, &L.bo, Activation::kNone, h);
    // Residual adds are fused with the norm that follows them (one pass over x on a GPU).
    be_->AddLayerNorm(x, h, L.ln2_g, L.ln2_b, eps_, h);
    be_->Linear(h, L.w_fc, &L.b_fc, act_, mlp);
    be_->Linear(mlp, L.w_proj, &L.b_proj, Activation::kNone, a);
    rec.FinishAttention(l);
    if (l + 1 < info_.num_layers) {
      const Gpt2Layer& next = layers_[l + 1];
      be_->AddLayerNorm(x, a, next.ln1_g, next.ln1_b, eps_, h);
      rec.Hidden(l + 1, x);
    } else {
      be_->AddInPlace(x, a);
    }
  }
  be_->LayerNorm(x, lnf_g_, lnf_b_, eps_, x);
  rec.Hidden(info_.num_layers, x);
  return FinishDecoderOutput(be_, batch, x, lm_head_, info_.vocab_size, out);
}

float Gpt2::AttentionScale(int layer) const {
  float scale = scale_attn_weights_ ? 1.0f / std::sqrt(static_cast<float>(info_.head_dim)) : 1.0f;
  if (scale_by_layer_) scale /= static_cast<float>(layer + 1);
  return scale;
}

absl::StatusOr<std::vector<float>> Gpt2::AttentionOutputWeight(int layer) const {
  if (layer < 0 || layer >= info_.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " is outside [0, ",
                                                   info_.num_layers, ")"));
  }
  // wo is held [out, in] for the op interface; c_proj's own [in, out] layout is what is asked.
  return TransposedToHost(be_, layers_[layer].wo);
}

absl::Status Gpt2::Lens(std::span<const float> states, int64_t rows, bool apply_final_norm,
                        std::vector<float>* logits) {
  INFER_RETURN_IF_ERROR(CheckRows(states, rows, info_.hidden_size));
  logits->clear();
  if (rows == 0) return absl::OkStatus();
  Tensor x = UploadRows(be_, states, rows, info_.hidden_size);
  if (apply_final_norm) be_->LayerNorm(x, lnf_g_, lnf_b_, eps_, x);
  LmHeadLogits(be_, x, lm_head_, info_.vocab_size, logits);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DecoderModel>> LoadGpt2(const ModelFolder& folder,
                                                       Backend* backend) {
  return Gpt2::Load(folder, backend);
}

}  // namespace infer::model
