// BERT, RoBERTa and DistilBERT share one post-LN encoder layer; they differ in names, in the
// embeddings (token types, RoBERTa's position offset) and in the classification head. One
// implementation with a small description per family keeps the three in step.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/model/activation_name.h"
#include "server/util/backend_errors.h"
#include "server/model/config_json.h"
#include "server/model/decoder_batch_tensors.h"
#include "server/model/encoder_model.h"
#include "server/model/weight_loader.h"
#include "server/util/status_macros.h"

namespace infer::model {
namespace {

using kernels::Activation;
using kernels::Backend;
using kernels::Tensor;

enum class Family { kBert, kRoberta, kDistilBert };
enum class Head { kNone, kBertPooler, kRobertaDense, kDistilPreClassifier };

// Weight names inside one layer, relative to "<layer prefix><i>.".
struct LayerNames {
  const char *q, *k, *v, *o, *ln1, *fc1, *fc2, *ln2;
};
constexpr LayerNames kBertLayer = {
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
    "output.dense", "output.LayerNorm"};
constexpr LayerNames kDistilLayer = {"attention.q_lin", "attention.k_lin", "attention.v_lin",
                                     "attention.out_lin", "sa_layer_norm", "ffn.lin1",
                                     "ffn.lin2", "output_layer_norm"};

struct Linear {
  Tensor w, b;
};
struct Norm {
  Tensor g, b;
};
struct EncoderLayer {
  Linear q, k, v, o, fc1, fc2;
  Norm ln1, ln2;
};

class BertFamily final : public EncoderModel {
 public:
  const ModelInfo& info() const override { return info_; }
  int max_tokens() const override { return max_tokens_; }
  bool has_classifier() const override { return head_ != Head::kNone && info_.num_labels > 0; }
  absl::Status Forward(const EncoderBatch& batch, ForwardCapture* capture,
                       EncoderOutput* out) override {
    return util::CatchBackendErrors([&] { return Run(batch, capture, out); });
  }
  absl::StatusOr<std::vector<float>> AttentionOutputWeight(int layer) const override {
    if (layer < 0 || layer >= info_.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " is outside [0, ",
                                                     info_.num_layers, ")"));
    }
    return TransposedToHost(be_, layers_[layer].o.w);  // nn.Linear [out, in] -> [in, out]
  }
  float AttentionScale(int) const override {
    return 1.0f / std::sqrt(static_cast<float>(info_.head_dim));
  }
  absl::Status Load(const ModelFolder& folder, Backend* backend);

 private:
  absl::Status Run(const EncoderBatch& batch, ForwardCapture* capture, EncoderOutput* out);
  absl::Status ReadConfig(const ModelFolder& folder);
  absl::StatusOr<Linear> LoadLinear(const WeightLoader& w, const std::string& name, int64_t out,
                                    int64_t in);
  absl::StatusOr<Norm> LoadNorm(const WeightLoader& w, const std::string& name, int64_t n);
  void Dense(const Linear& l, const Tensor& x, Activation act, Tensor& y) {
    be_->Linear(x, l.w, &l.b, act, y);
  }

  Backend* be_ = nullptr;
  Family family_ = Family::kBert;
  ModelInfo info_;
  float eps_ = 1e-12f;
  Activation act_ = Activation::kGeluErf;
  int type_vocab_ = 0;
  int pad_id_ = 0;
  int max_tokens_ = 0;
  Tensor word_, pos_, type_;
  Norm emb_ln_;
  std::vector<EncoderLayer> layers_;
  Head head_ = Head::kNone;
  Linear pool_or_dense_, classifier_;
};

absl::Status BertFamily::ReadConfig(const ModelFolder& folder) {
  const nlohmann::json& c = folder.config;
  info_.architecture = folder.architectures.empty() ? "" : folder.architectures[0];
  const std::string& t = folder.model_type;
  if (t == "distilbert") {
    family_ = Family::kDistilBert;
    info_.family = "distilbert";
    INFER_ASSIGN_OR_RETURN(int64_t dim, GetPositiveInt(c, "dim", 768));
    INFER_ASSIGN_OR_RETURN(int64_t layers, GetPositiveInt(c, "n_layers", 6));
    INFER_ASSIGN_OR_RETURN(int64_t heads, GetPositiveInt(c, "n_heads", 12));
    INFER_ASSIGN_OR_RETURN(int64_t inner, GetPositiveInt(c, "hidden_dim", 4 * dim));
    INFER_ASSIGN_OR_RETURN(std::string act, GetString(c, "activation", "gelu"));
    INFER_ASSIGN_OR_RETURN(act_, ParseActivation(act, "activation"));
    info_.hidden_size = static_cast<int>(dim);
    info_.num_layers = static_cast<int>(layers);
    info_.num_heads = static_cast<int>(heads);
    info_.intermediate_size = static_cast<int>(inner);
    eps_ = 1e-12f;  // DistilBERT hard-codes it
  } else {
    family_ = (t == "bert") ? Family::kBert : Family::kRoberta;
    info_.family = t;
    INFER_ASSIGN_OR_RETURN(int64_t dim, GetPositiveInt(c, "hidden_size", 768));
    INFER_ASSIGN_OR_RETURN(int64_t layers, GetPositiveInt(c, "num_hidden_layers", 12));
    INFER_ASSIGN_OR_RETURN(int64_t heads, GetPositiveInt(c, "num_attention_heads", 12));
    INFER_ASSIGN_OR_RETURN(int64_t inner, GetPositiveInt(c, "intermediate_size", 4 * dim));
    INFER_ASSIGN_OR_RETURN(std::string act, GetString(c, "hidden_act", "gelu"));
    INFER_ASSIGN_OR_RETURN(act_, ParseActivation(act, "hidden_act"));
    INFER_ASSIGN_OR_RETURN(double eps, GetFloat(c, "layer_norm_eps", 1e-12));
    INFER_ASSIGN_OR_RETURN(int64_t types, GetInt(c, "type_vocab_size", 2));
    INFER_ASSIGN_OR_RETURN(std::string pe, GetString(c, "position_embedding_type", "absolute"));
    if (pe != "absolute") {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.json: position_embedding_type \"", pe, "\" is not supported (absolute)"));
    }
    info_.hidden_size = static_cast<int>(dim);
    info_.num_layers = static_cast<int>(layers);
    info_.num_heads = static_cast<int>(heads);
    info_.intermediate_size = static_cast<int>(inner);
    eps_ = static_cast<float>(eps);
    type_vocab_ = static_cast<int>(types);
  }
  INFER_ASSIGN_OR_RETURN(int64_t vocab, GetPositiveInt(c, "vocab_size", 30522));
  INFER_ASSIGN_OR_RETURN(int64_t positions, GetPositiveInt(c, "max_position_embeddings", 512));
  INFER_ASSIGN_OR_RETURN(int64_t pad, GetInt(c, "pad_token_id", family_ == Family::kRoberta ? 1 : 0));
  if (info_.hidden_size % info_.num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: hidden size ", info_.hidden_size,
                                                   " is not divisible by ", info_.num_heads,
                                                   " attention heads"));
  }
  if (info_.num_layers > 1024 || info_.hidden_size > 65536 || vocab > 4000000 ||
      positions > 1000000 || type_vocab_ > 1024) {
    return absl::InvalidArgumentError("config.json: model dimensions are implausibly large");
  }
  info_.causal = false;
  info_.num_kv_heads = info_.num_heads;
  info_.head_dim = info_.hidden_size / info_.num_heads;
  info_.vocab_size = static_cast<int>(vocab);
  info_.max_positions = static_cast<int>(positions);
  pad_id_ = static_cast<int>(pad);
  max_tokens_ = info_.max_positions;
  if (family_ == Family::kRoberta) {
    // Positions start at pad_token_id + 1, so that many slots are never used.
    if (pad_id_ < 0 || pad_id_ + 1 >= info_.max_positions) {
      return absl::InvalidArgumentError("config.json: pad_token_id leaves no position slots");
    }
    max_tokens_ = info_.max_positions - pad_id_ - 1;
  }
  INFER_ASSIGN_OR_RETURN(info_.id2label, GetIntMap(c, "id2label"));
  INFER_ASSIGN_OR_RETURN(std::string problem, GetString(c, "problem_type", ""));
  info_.multi_label = problem == "multi_label_classification";
  info_.num_labels = static_cast<int>(info_.id2label.size());
  if (c.contains("num_labels")) {
    INFER_ASSIGN_OR_RETURN(int64_t n, GetPositiveInt(c, "num_labels", info_.num_labels));
    info_.num_labels = static_cast<int>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<Linear> BertFamily::LoadLinear(const WeightLoader& w, const std::string& name,
                                              int64_t out, int64_t in) {
  Linear l;
  INFER_ASSIGN_OR_RETURN(l.w, w.Load(name + ".weight", {out, in}));
  INFER_ASSIGN_OR_RETURN(l.b, w.Load(name + ".bias", {out}));
  return l;
}

absl::StatusOr<Norm> BertFamily::LoadNorm(const WeightLoader& w, const std::string& name,
                                          int64_t n) {
  Norm l;
  INFER_ASSIGN_OR_RETURN(l.g, w.Load(name + ".weight", {n}));
  INFER_ASSIGN_OR_RETURN(l.b, w.Load(name + ".bias", {n}));
  return l;
}

absl::Status BertFamily::Load(const ModelFolder& folder, Backend* backend) {
  be_ = backend;
  INFER_RETURN_IF_ERROR(ReadConfig(folder));
  const int64_t e = info_.hidden_size, inner = info_.intermediate_size;
  const bool distil = family_ == Family::kDistilBert;
  const std::string base = distil ? "distilbert." : (family_ == Family::kBert ? "bert." : "roberta.");
  WeightLoader w(folder.weights, backend, {base, ""});
  INFER_ASSIGN_OR_RETURN(word_, w.Load("embeddings.word_embeddings.weight", {info_.vocab_size, e}));
  INFER_ASSIGN_OR_RETURN(pos_, w.Load("embeddings.position_embeddings.weight",
                                      {info_.max_positions, e}));
  if (!distil && type_vocab_ > 0) {
    INFER_ASSIGN_OR_RETURN(type_, w.Load("embeddings.token_type_embeddings.weight",
                                         {type_vocab_, e}));
  }
  INFER_ASSIGN_OR_RETURN(emb_ln_, LoadNorm(w, "embeddings.LayerNorm", e));
  const LayerNames& n = distil ? kDistilLayer : kBertLayer;
  const std::string layer_prefix = distil ? "transformer.layer." : "encoder.layer.";
  for (int l = 0; l < info_.num_layers; ++l) {
    const std::string p = absl::StrCat(layer_prefix, l, ".");
    EncoderLayer L;
    INFER_ASSIGN_OR_RETURN(L.q, LoadLinear(w, p + n.q, e, e));
    INFER_ASSIGN_OR_RETURN(L.k, LoadLinear(w, p + n.k, e, e));
    INFER_ASSIGN_OR_RETURN(L.v, LoadLinear(w, p + n.v, e, e));
    INFER_ASSIGN_OR_RETURN(L.o, LoadLinear(w, p + n.o, e, e));
    INFER_ASSIGN_OR_RETURN(L.ln1, LoadNorm(w, p + n.ln1, e));
    INFER_ASSIGN_OR_RETURN(L.fc1, LoadLinear(w, p + n.fc1, inner, e));
    INFER_ASSIGN_OR_RETURN(L.fc2, LoadLinear(w, p + n.fc2, e, inner));
    INFER_ASSIGN_OR_RETURN(L.ln2, LoadNorm(w, p + n.ln2, e));
    layers_.push_back(std::move(L));
  }
  // Heads live outside the base prefix. A BERT pooler is loaded whenever present (embeddings
  // and classification both use it); the classifier only when the folder has one.
  WeightLoader top(folder.weights, backend, {""});
  const int64_t labels = info_.num_labels;
  if (family_ == Family::kBert) {
    if (w.Has("pooler.dense.weight")) {
      INFER_ASSIGN_OR_RETURN(pool_or_dense_, LoadLinear(w, "pooler.dense", e, e));
      head_ = Head::kBertPooler;
      if (labels > 0 && top.Has("classifier.weight")) {
        INFER_ASSIGN_OR_RETURN(classifier_, LoadLinear(top, "classifier", labels, e));
      } else {
        info_.num_labels = 0;
      }
    }
  } else if (family_ == Family::kRoberta && labels > 0 && top.Has("classifier.dense.weight")) {
    head_ = Head::kRobertaDense;
    INFER_ASSIGN_OR_RETURN(pool_or_dense_, LoadLinear(top, "classifier.dense", e, e));
    INFER_ASSIGN_OR_RETURN(classifier_, LoadLinear(top, "classifier.out_proj", labels, e));
  } else if (distil && labels > 0 && top.Has("pre_classifier.weight")) {
    head_ = Head::kDistilPreClassifier;
    INFER_ASSIGN_OR_RETURN(pool_or_dense_, LoadLinear(top, "pre_classifier", e, e));
    INFER_ASSIGN_OR_RETURN(classifier_, LoadLinear(top, "classifier", labels, e));
  }
  if (head_ == Head::kNone || (head_ == Head::kBertPooler && classifier_.w.empty())) {
    info_.num_labels = 0;
  }
  return absl::OkStatus();
}

absl::Status BertFamily::Run(const EncoderBatch& batch, ForwardCapture* capture,
                             EncoderOutput* out) {
  const int64_t total = static_cast<int64_t>(batch.tokens.size());
  const int n = batch.num_seqs();
  const int64_t e = info_.hidden_size;
  if (n < 0 || batch.cu_seqlens.empty() || batch.cu_seqlens.front() != 0 ||
      batch.cu_seqlens.back() != total ||
      (!batch.type_ids.empty() && static_cast<int64_t>(batch.type_ids.size()) != total)) {
    return absl::InternalError("encoder batch arrays have inconsistent sizes");
  }
  // Positions: 0.. per sequence; RoBERTa counts non-pad tokens from pad_token_id + 1.
  std::vector<int32_t> positions(total), types(total, 0), seq_lens(n);
  for (int s = 0; s < n; ++s) {
    const int32_t b = batch.cu_seqlens[s], len = batch.cu_seqlens[s + 1] - b;
    if (len <= 0) return absl::InvalidArgumentError("an input has no tokens");
    if (len > max_tokens_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input of ", len, " tokens is longer than the model's maximum of ", max_tokens_));
    }
    seq_lens[s] = len;
    int32_t counted = 0;
    for (int32_t i = 0; i < len; ++i) {
      const int32_t id = batch.tokens[b + i];
      if (id < 0 || id >= info_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token id ", id, " is outside the vocabulary [0, ", info_.vocab_size, ")"));
      }
      if (family_ == Family::kRoberta) {
        positions[b + i] = id == pad_id_ ? pad_id_ : pad_id_ + (++counted);
      } else {
        positions[b + i] = i;
      }
      // DistilBERT has no segment embeddings and, like transformers, ignores segment ids.
      if (!batch.type_ids.empty() && family_ != Family::kDistilBert) {
        types[b + i] = batch.type_ids[b + i];
        const int limit = std::max(type_vocab_, 1);
        if (types[b + i] < 0 || types[b + i] >= limit) {
          return absl::InvalidArgumentError(absl::StrCat("token type id ", types[b + i],
                                                         " is outside [0, ", limit, ")"));
        }
      }
    }
  }

  Tensor x = be_->AllocActivation({total, e});
  be_->Embedding(word_, batch.tokens.data(), total, false, x);
  be_->Embedding(pos_, positions.data(), total, true, x);
  if (!type_.empty()) be_->Embedding(type_, types.data(), total, true, x);
  be_->LayerNorm(x, emb_ln_.g, emb_ln_.b, eps_, x);
  CaptureRecorder rec(be_, capture, info_.num_layers, batch.cu_seqlens, seq_lens,
                      info_.num_heads);
  rec.Hidden(0, x);

  Tensor cu = be_->Alloc({n + 1}, kernels::DType::kI32);
  be_->CopyFromHost(batch.cu_seqlens.data(), cu);
  Tensor lens = be_->Alloc({std::max(n, 1)}, kernels::DType::kI32);
  if (n > 0) {
    lens.shape[0] = n;
    be_->CopyFromHost(seq_lens.data(), lens);
  }
  Tensor q = be_->AllocActivation({total, e}), k = be_->AllocActivation({total, e}),
         v = be_->AllocActivation({total, e}), a = be_->AllocActivation({total, e}),
         h = be_->AllocActivation({total, e});
  Tensor mid = be_->AllocActivation({total, info_.intermediate_size});
  for (int l = 0; l < info_.num_layers; ++l) {
    const EncoderLayer& L = layers_[l];
    Dense(L.q, x, Activation::kNone, q);
    Dense(L.k, x, Activation::kNone, k);
    Dense(L.v, x, Activation::kNone, v);
    rec.Qkv(l, q, k, v);
    kernels::AttentionParams p;
    p.dtype = q.dtype;
    p.q = q.data;
    p.k = k.data;
    p.v = v.data;
    p.out = a.data;
    p.cu_seqlens_q = cu.as<int32_t>();
    p.context_lens = lens.as<int32_t>();
    p.cu_seqlens_q_host = batch.cu_seqlens.data();
    p.context_lens_host = seq_lens.data();
    p.num_seqs = n;
    p.num_heads = p.num_kv_heads = info_.num_heads;
    p.head_dim = info_.head_dim;
    p.scale = AttentionScale(l);
    p.causal = false;
    p.probs = rec.AttentionBuffer(l);
    p.probs_offsets = rec.offsets();
    be_->Attention(p);
    rec.FinishAttention(l);
    // Post-norm: x = LN(x + sublayer(x)), the add fused with the norm (x is the residual that
    // AddLayerNorm accumulates into, then overwritten by the normed sum).
    Dense(L.o, a, Activation::kNone, h);
    be_->AddLayerNorm(h, x, L.ln1.g, L.ln1.b, eps_, x);
    Dense(L.fc1, x, act_, mid);
    Dense(L.fc2, mid, Activation::kNone, h);
    be_->AddLayerNorm(h, x, L.ln2.g, L.ln2.b, eps_, x);
    rec.Hidden(l + 1, x);
  }
  out->last_hidden.resize(total * e);
  be_->CopyToHostF32(x, out->last_hidden.data());
  out->pooled.clear();
  out->class_logits.clear();
  if (head_ == Head::kNone || n == 0) return absl::OkStatus();

  // Heads read the first token of each sequence ([CLS] / <s>).
  std::vector<int32_t> first(batch.cu_seqlens.begin(), batch.cu_seqlens.end() - 1);
  Tensor cls = be_->AllocActivation({n, e}), pooled = be_->AllocActivation({n, e});
  be_->GatherRows(x, first, cls);
  const Activation head_act =
      head_ == Head::kDistilPreClassifier ? Activation::kRelu : Activation::kTanh;
  Dense(pool_or_dense_, cls, head_act, pooled);
  if (head_ == Head::kBertPooler) {
    out->pooled.resize(n * e);
    be_->CopyToHostF32(pooled, out->pooled.data());
  }
  if (!classifier_.w.empty()) {
    Tensor logits = be_->Alloc({n, info_.num_labels});  // float32 logits, like the LM head's
    Dense(classifier_, pooled, Activation::kNone, logits);
    out->class_logits.resize(int64_t{n} * info_.num_labels);
    be_->CopyToHostF32(logits, out->class_logits.data());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EncoderModel>> LoadBertFamily(const ModelFolder& folder,
                                                             Backend* backend) {
  const std::string& t = folder.model_type;
  if (t != "bert" && t != "roberta" && t != "distilbert" && t != "xlm-roberta" &&
      t != "camembert") {
    return absl::InvalidArgumentError(
        absl::StrCat("model_type \"", t, "\" is not a BERT-family encoder"));
  }
  auto m = std::make_unique<BertFamily>();
  INFER_RETURN_IF_ERROR(m->Load(folder, backend));
  return std::unique_ptr<EncoderModel>(std::move(m));
}

}  // namespace infer::model
