// What the model layer exposes for ExplainAttention, against transformers
// (tests/golden/make_explain_golden.py): captured queries/keys/values, the attention output
// projection, the attention scale and the logit lens, for GPT-2 (through the paged engine, two
// sequences packed in one step) and BERT (one packed encoder batch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/runtime/lm_engine.h"
#include "server/tasks/task_model.h"

namespace infer {
namespace {

using testing::GoldenTensors;
using testing::MaxAbsError;
using testing::ReadGoldenJson;
using testing::RelativeError;

// Packed rows [begin, begin+t) of a [total, heads*d] capture, as [heads, t, d] like the reference.
std::vector<float> HeadsFirst(const std::vector<float>& x, int64_t begin, int64_t t, int heads,
                              int d) {
  std::vector<float> out(static_cast<size_t>(heads) * t * d);
  for (int h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < t; ++i) {
      for (int k = 0; k < d; ++k) {
        out[(h * t + i) * d + k] = x[((begin + i) * heads + h) * d + k];
      }
    }
  }
  return out;
}

std::vector<float> Rows(const std::vector<float>& x, int64_t begin, int64_t t, int64_t width) {
  return {x.begin() + begin * width, x.begin() + (begin + t) * width};
}

// Float32 q/k/v differ from transformers' by rounding only: 1e-5 of the reference's magnitude
// (GPT-2's golden weights give values up to ~17).
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  double scale = 1.0;
  for (float w : want) scale = std::max(scale, std::fabs(static_cast<double>(w)));
  EXPECT_LT(MaxAbsError(got, want), 1e-5 * scale) << what;
}

struct Case {
  std::string name;
  std::vector<int32_t> ids, type_ids;
  int64_t begin = 0;  // first packed row
};

std::vector<Case> CasesOf(const nlohmann::json& model) {
  std::vector<Case> cases;
  int64_t row = 0;
  for (const auto& c : model["cases"]) {
    Case k{c["name"], c["input_ids"].get<std::vector<int32_t>>(), {}, row};
    if (c.contains("token_type_ids")) k.type_ids = c["token_type_ids"].get<std::vector<int32_t>>();
    row += static_cast<int64_t>(k.ids.size());
    cases.push_back(std::move(k));
  }
  return cases;
}

// q/k/v and attention probabilities of every case in one packed capture.
void CheckQkv(const model::ForwardCapture& cap, const model::ModelInfo& info,
              const std::vector<Case>& cases, const std::string& model, const GoldenTensors& want) {
  const int layers = info.num_layers, heads = info.num_heads, d = info.head_dim;
  ASSERT_EQ(cap.queries.size(), static_cast<size_t>(layers));
  ASSERT_EQ(cap.keys.size(), static_cast<size_t>(layers));
  ASSERT_EQ(cap.values.size(), static_cast<size_t>(layers));
  int64_t total = 0;
  for (const Case& c : cases) total += static_cast<int64_t>(c.ids.size());
  for (int l = 0; l < layers; ++l) {
    ASSERT_EQ(cap.queries[l].size(), static_cast<size_t>(total * heads * d));
    ASSERT_EQ(cap.keys[l].size(), static_cast<size_t>(total * info.num_kv_heads * d));
    ASSERT_EQ(cap.values[l].size(), static_cast<size_t>(total * info.num_kv_heads * d));
    for (size_t s = 0; s < cases.size(); ++s) {
      const Case& c = cases[s];
      const int64_t t = static_cast<int64_t>(c.ids.size());
      const std::string p = model + "." + c.name + ".";
      const std::string at = " layer " + std::to_string(l) + " case " + c.name;
      ExpectClose(HeadsFirst(cap.queries[l], c.begin, t, heads, d),
                  want.Get(p + "query." + std::to_string(l)), "query" + at);
      ExpectClose(HeadsFirst(cap.keys[l], c.begin, t, heads, d),
                  want.Get(p + "key." + std::to_string(l)), "key" + at);
      ExpectClose(HeadsFirst(cap.values[l], c.begin, t, heads, d),
                  want.Get(p + "value." + std::to_string(l)), "value" + at);
      const int64_t off = cap.attention_offsets[s];
      std::vector<float> probs(cap.attentions[l].begin() + off,
                               cap.attentions[l].begin() + off + heads * t * t);
      const std::vector<float> ref = want.Get(p + "attention." + std::to_string(l));
      EXPECT_LT(RelativeError(probs, ref), testing::kFloat32Tolerance) << "attention" << at;
      // The bar for attention probabilities: 1e-5 absolute, element by element.
      ASSERT_EQ(probs.size(), ref.size());
      float worst = 0;
      for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(probs[i] - ref[i]));
      EXPECT_LT(worst, 1e-5f) << "attention" << at;
    }
  }
}

template <typename Model>
void CheckWeightsAndScale(const Model& m, const nlohmann::json& meta, const std::string& model,
                          const GoldenTensors& want) {
  const model::ModelInfo& info = m.info();
  for (int l = 0; l < info.num_layers; ++l) {
    auto w = m.AttentionOutputWeight(l);
    ASSERT_TRUE(w.ok()) << w.status();
    // A transposed copy of float32 weights: bit-exact.
    EXPECT_EQ(MaxAbsError(*w, want.Get(model + ".out_proj." + std::to_string(l))), 0.0) << l;
    EXPECT_NEAR(m.AttentionScale(l), meta["attention_scale"][l].get<double>(), 1e-7) << l;
  }
  EXPECT_EQ(m.AttentionOutputWeight(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.AttentionOutputWeight(info.num_layers).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct Gpt2Run {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend();
  std::unique_ptr<runtime::LmEngine> engine;
  model::ForwardCapture cap;
  runtime::StepOutput out;
};

// Every case as its own sequence, all in one step, so rows are packed as the scheduler packs them.
void RunGpt2(const std::vector<Case>& cases, Gpt2Run& r) {
  auto m = model::LoadModel(testing::GoldenPath("models/gpt2"), r.backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  runtime::LmEngineOptions o;
  o.block_size = 4;  // so that the longer case spans blocks
  o.num_blocks = 64;
  r.engine = std::make_unique<runtime::LmEngine>(std::move(m->decoder), r.backend.get(), o);
  std::vector<runtime::StepItem> items;
  for (const Case& c : cases) items.push_back({*r.engine->NewSequence(), c.ids});
  runtime::StepOptions opt;
  opt.all_logits = true;
  opt.capture = &r.cap;
  ASSERT_TRUE(r.engine->StepEx(items, opt, &r.out).ok());
}

TEST(ExplainCaptureGolden, Gpt2QueriesKeysValuesWeightsAndScale) {
  nlohmann::json meta = ReadGoldenJson("expected/explain.json")["models"]["gpt2"];
  GoldenTensors want("expected/explain.safetensors");
  std::vector<Case> cases = CasesOf(meta);
  Gpt2Run r;
  r.cap.want_qkv = r.cap.want_attentions = true;
  RunGpt2(cases, r);
  ASSERT_TRUE(r.engine);
  CheckQkv(r.cap, r.engine->info(), cases, "gpt2", want);
  EXPECT_TRUE(r.cap.hidden.empty());
  CheckWeightsAndScale(r.engine->model(), meta, "gpt2", want);
}

TEST(ExplainCaptureGolden, Gpt2LogitLensMatchesTransformers) {
  nlohmann::json meta = ReadGoldenJson("expected/explain.json")["models"]["gpt2"];
  GoldenTensors want("expected/explain.safetensors");
  std::vector<Case> cases = CasesOf(meta);
  Gpt2Run r;
  r.cap.want_hidden_states = true;
  RunGpt2(cases, r);
  ASSERT_TRUE(r.engine);
  model::DecoderModel& m = r.engine->model();
  const model::ModelInfo& info = m.info();
  const int layers = info.num_layers, vocab = info.vocab_size, e = info.hidden_size;
  ASSERT_EQ(r.cap.hidden.size(), static_cast<size_t>(layers + 1));
  for (size_t s = 0; s < cases.size(); ++s) {
    const Case& c = cases[s];
    const int64_t t = static_cast<int64_t>(c.ids.size());
    const auto& lens = meta["cases"][s]["logit_lens"];
    for (int l = 0; l <= layers; ++l) {
      SCOPED_TRACE("case " + c.name + " layer " + std::to_string(l));
      // hidden[layers] already went through ln_f, the others are the raw residual stream.
      std::vector<float> states = Rows(r.cap.hidden[l], c.begin, t, e), logits;
      ASSERT_TRUE(m.LensLogits(states, t, l < layers, &logits).ok());
      ASSERT_EQ(logits.size(), static_cast<size_t>(t * vocab));
      EXPECT_LT(RelativeError(logits, want.Get("gpt2." + c.name + ".lens_logits." + std::to_string(l))),
                testing::kFloat32Tolerance);
      for (int64_t i = 0; i < t; ++i) {
        auto row = logits.begin() + i * vocab;
        const int top = static_cast<int>(std::max_element(row, row + vocab) - row);
        EXPECT_EQ(top, lens[l]["positions"][i]["top_ids"][0].get<int>()) << "position " << i;
      }
      if (l == layers) {  // the last lens row is the model's own output
        EXPECT_LT(RelativeError(logits, Rows(r.out.logits, c.begin, t, vocab)), 1e-6);
      }
    }
  }
  std::vector<float> logits;
  std::vector<float> ragged(e + 1, 0.0f);
  EXPECT_EQ(m.LensLogits(ragged, 1, true, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.LensLogits({}, 0, true, &logits).ok());
  EXPECT_TRUE(logits.empty());
}

TEST(ExplainCaptureGolden, BertQueriesKeysValuesWeightsAndScale) {
  nlohmann::json meta = ReadGoldenJson("expected/explain.json")["models"]["bert"];
  GoldenTensors want("expected/explain.safetensors");
  std::vector<Case> cases = CasesOf(meta);
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/bert"), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->encoder);
  model::EncoderBatch batch;
  batch.cu_seqlens = {0};
  for (const Case& c : cases) {
    batch.tokens.insert(batch.tokens.end(), c.ids.begin(), c.ids.end());
    std::vector<int32_t> types = c.type_ids.empty() ? std::vector<int32_t>(c.ids.size(), 0)
                                                    : c.type_ids;
    batch.type_ids.insert(batch.type_ids.end(), types.begin(), types.end());
    batch.cu_seqlens.push_back(static_cast<int32_t>(batch.tokens.size()));
  }
  model::ForwardCapture cap;
  cap.want_qkv = cap.want_attentions = true;
  model::EncoderOutput out;
  ASSERT_TRUE(m->encoder->Forward(batch, &cap, &out).ok());
  CheckQkv(cap, m->encoder->info(), cases, "bert", want);
  CheckWeightsAndScale(*m->encoder, meta, "bert", want);
}

TEST(ExplainCaptureGolden, QkvStaysEmptyUnlessAsked) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/bert"), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  model::EncoderBatch batch{{2, 900, 3}, {}, {0, 3}};
  model::ForwardCapture cap;
  cap.want_qkv = true;
  model::EncoderOutput out;
  ASSERT_TRUE(m->encoder->Forward(batch, &cap, &out).ok());
  EXPECT_FALSE(cap.queries.empty());
  // The same capture reused without want_qkv: nothing stale is left behind.
  cap.want_qkv = false;
  cap.want_hidden_states = true;
  ASSERT_TRUE(m->encoder->Forward(batch, &cap, &out).ok());
  EXPECT_TRUE(cap.queries.empty());
  EXPECT_TRUE(cap.keys.empty());
  EXPECT_TRUE(cap.values.empty());
  EXPECT_EQ(cap.hidden.size(), static_cast<size_t>(m->encoder->info().num_layers + 1));

  Gpt2Run r;
  r.cap.want_hidden_states = true;
  RunGpt2({Case{"one", {900}, {}, 0}}, r);
  ASSERT_TRUE(r.engine);
  EXPECT_TRUE(r.cap.queries.empty());
  EXPECT_FALSE(r.cap.hidden.empty());
}

// TaskModel forwards to whichever architecture it holds; encoders have no logit lens.
TEST(ExplainCaptureGolden, TaskModelPassesThrough) {
  GoldenTensors want("expected/explain.safetensors");
  auto backend = kernels::MakeCpuBackend();
  for (const std::string name : {"gpt2", "bert"}) {
    SCOPED_TRACE(name);
    auto t = tasks::TaskModel::Load(testing::GoldenPath("models/" + name), backend.get());
    ASSERT_TRUE(t.ok()) << t.status();
    auto w = (*t)->AttentionOutputWeight(1);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(MaxAbsError(*w, want.Get(name + ".out_proj.1")), 0.0);
    EXPECT_EQ((*t)->AttentionOutputWeight(2).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FLOAT_EQ((*t)->AttentionScale(0), 0.25f);  // 1/sqrt(16)
    const int e = (*t)->info().hidden_size;
    std::vector<float> states = want.Get(name + ".one.hidden_states.2"), logits;
    ASSERT_EQ(states.size() % e, 0u);
    const absl::Status lens = (*t)->LensLogits(states, states.size() / e, false, &logits);
    if (name == "gpt2") {
      ASSERT_TRUE(lens.ok()) << lens;
      EXPECT_LT(RelativeError(logits, want.Get("gpt2.one.lens_logits.2")),
                testing::kFloat32Tolerance);
    } else {
      EXPECT_EQ(lens.code(), absl::StatusCode::kFailedPrecondition);
    }
  }
}

}  // namespace
}  // namespace infer
