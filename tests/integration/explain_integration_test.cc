// ExplainAttention over the wire: every method against invariants it must satisfy and against the
// engine in this process; selections, float16, budgets, truncation and bad input.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "gtest/gtest.h"
#include "server/explain/half.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

namespace pb = infer::v1;
constexpr const char* kText = "The animal didn't cross the street because it was too tired";

struct Reply {
  grpc::Status status;
  pb::ExplainHeader header;
  std::vector<pb::AttentionBlock> maps;
  std::vector<pb::QueryKeyBlock> qk;
  std::vector<pb::LogitLensBlock> lens;
  std::vector<pb::AttributionBlock> attributions;
  std::vector<pb::ProjectionBlock> projections;
  pb::ExplainFooter footer;
  int messages = 0;
};

Reply Explain(const pb::ExplainAttentionRequest& req) {
  Reply r;
  r.status = SharedClient().ExplainAttention(req, [&](const pb::ExplainAttentionResponse& m) {
    ++r.messages;
    if (m.has_header()) r.header = m.header();
    if (m.has_attention()) r.maps.push_back(m.attention());
    if (m.has_query_key()) r.qk.push_back(m.query_key());
    if (m.has_logit_lens()) r.lens.push_back(m.logit_lens());
    if (m.has_attribution()) r.attributions.push_back(m.attribution());
    if (m.has_projection()) r.projections.push_back(m.projection());
    if (m.has_footer()) r.footer = m.footer();
    return true;
  });
  return r;
}

pb::ExplainAttentionRequest Request(const std::string& model,
                                    std::initializer_list<pb::ExplainMethod> methods) {
  pb::ExplainAttentionRequest req;
  req.set_model(model);
  req.set_text(kText);
  for (pb::ExplainMethod m : methods) req.add_methods(m);
  return req;
}

// [layer][head] -> T*T map of one kind, from full (unselected, float32) blocks.
std::map<std::pair<uint32_t, int>, std::vector<float>> Maps(const Reply& r,
                                                            pb::AttentionMapKind kind) {
  std::map<std::pair<uint32_t, int>, std::vector<float>> out;
  for (const auto& b : r.maps) {
    if (b.kind() != kind) continue;
    const size_t n = static_cast<size_t>(b.query_tokens()) * b.key_tokens();
    const int maps = std::max(1, b.heads_size());
    EXPECT_EQ(static_cast<size_t>(b.values_size()), maps * n);
    for (int i = 0; i < maps; ++i) {
      const int head = b.heads_size() ? static_cast<int>(b.heads(i)) : -1;
      out[{b.layer(), head}].assign(b.values().begin() + i * n, b.values().begin() + (i + 1) * n);
    }
  }
  return out;
}

TEST(ExplainIntegration, NeuronViewReproducesTheAttentionAndFlowsHoldTheirInvariants) {
  for (const std::string model : {"gpt2", "nli"}) {
    SCOPED_TRACE(model);
    Reply r = Explain(Request(model, {pb::EXPLAIN_METHOD_NORM_WEIGHTED, pb::EXPLAIN_METHOD_ROLLOUT,
                                      pb::EXPLAIN_METHOD_NEURON_VIEW,
                                      pb::EXPLAIN_METHOD_ATTENTION}));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    const int L = static_cast<int>(r.header.layers()), H = static_cast<int>(r.header.heads());
    const size_t T = r.header.tokens_size();
    const bool causal = r.header.causal();
    ASSERT_EQ(r.header.methods_size(), 4);
    EXPECT_EQ(r.header.methods(0), pb::EXPLAIN_METHOD_ATTENTION);  // enum order
    auto attn = Maps(r, pb::ATTENTION_MAP_PROBABILITIES);
    auto rollout_maps = Maps(r, pb::ATTENTION_MAP_ROLLOUT);
    auto roll = [&](int l) -> const std::vector<float>& {
      return rollout_maps[{static_cast<uint32_t>(l), -1}];
    };
    auto nw = Maps(r, pb::ATTENTION_MAP_NORM_WEIGHTED);
    auto nw_sum_maps = Maps(r, pb::ATTENTION_MAP_NORM_WEIGHTED_SUM);
    ASSERT_EQ(attn.size(), static_cast<size_t>(L * H));
    ASSERT_EQ(rollout_maps.size(), static_cast<size_t>(L));
    ASSERT_EQ(nw.size(), static_cast<size_t>(L * H));
    ASSERT_EQ(nw_sum_maps.size(), static_cast<size_t>(L));
    ASSERT_EQ(r.qk.size(), static_cast<size_t>(L));

    // softmax(scale * q.k) with the causal mask is the attention the model reported.
    for (const auto& b : r.qk) {
      const size_t d = b.head_dim();
      ASSERT_EQ(b.tokens(), T);
      for (int i = 0; i < b.heads_size(); ++i) {
        const std::vector<float>& a = attn[{b.layer(), static_cast<int>(b.heads(i))}];
        for (size_t q = 0; q < T; ++q) {
          const size_t keys = causal ? q + 1 : T;
          std::vector<double> s(keys);
          double mx = -1e300, sum = 0;
          for (size_t k = 0; k < keys; ++k) {
            double dot = 0;
            for (size_t c = 0; c < d; ++c) {
              dot += double{b.queries((i * T + q) * d + c)} * b.keys((i * T + k) * d + c);
            }
            s[k] = dot * b.scale();
            mx = std::max(mx, s[k]);
          }
          for (double& v : s) sum += (v = std::exp(v - mx));
          for (size_t k = 0; k < keys; ++k) {
            ASSERT_NEAR(s[k] / sum, a[q * T + k], 2e-5) << "layer " << b.layer() << " q " << q;
          }
        }
      }
    }
    // Rollout layer 0 is the head-averaged attention with the residual, rows renormalised; each
    // layer's rows sum to one.
    for (size_t q = 0; q < T; ++q) {
      double norm = 0;
      std::vector<double> row(T);
      for (size_t k = 0; k < T; ++k) {
        double mean = 0;
        for (int h = 0; h < H; ++h) mean += attn[{0u, h}][q * T + k] / H;
        row[k] = 0.5 * mean + (q == k ? 0.5 : 0.0);
        norm += row[k];
      }
      for (size_t k = 0; k < T; ++k) EXPECT_NEAR(roll(0)[q * T + k], row[k] / norm, 1e-5);
      for (int l = 0; l < L; ++l) {
        double sum = 0;
        for (size_t k = 0; k < T; ++k) sum += roll(l)[q * T + k];
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
    // Norm-weighted: per head alpha_ij * ||f(x_j)||, so the ratio to alpha depends on j only; the
    // summed map is the norm of a sum, at most the sum of the per-head norms.
    for (int l = 0; l < L; ++l) {
      const uint32_t ul = static_cast<uint32_t>(l);
      for (int h = 0; h < H; ++h) {
        const auto& a = attn[{ul, h}];
        const auto& n = nw[{ul, h}];
        for (size_t k = 0; k < T; ++k) {
          const size_t q0 = causal ? k : 0;
          const double ratio = n[q0 * T + k] / a[q0 * T + k];
          EXPECT_GT(ratio, 0);
          for (size_t q = q0; q < T; ++q) {
            EXPECT_NEAR(n[q * T + k], ratio * a[q * T + k], 1e-4 * std::max(1.0, ratio));
          }
        }
      }
      const std::vector<float>& summed = nw_sum_maps[{ul, -1}];
      for (size_t i = 0; i < T * T; ++i) {
        double per_head = 0;
        for (int h = 0; h < H; ++h) per_head += nw[{ul, h}][i];
        EXPECT_GE(summed[i], 0.0f);
        EXPECT_LE(summed[i], per_head * (1 + 1e-5) + 1e-6);
      }
    }
    EXPECT_EQ(r.footer.forward_passes(), 1u);
    EXPECT_FALSE(r.footer.truncated());
  }
}

TEST(ExplainIntegration, RowSelectionTopKAndFloat16AgreeWithTheFullMaps) {
  Reply full = Explain(Request("gpt2", {pb::EXPLAIN_METHOD_ATTENTION}));
  ASSERT_TRUE(full.status.ok()) << full.status.error_message();
  auto maps = Maps(full, pb::ATTENTION_MAP_PROBABILITIES);
  const size_t T = full.header.tokens_size();
  pb::ExplainAttentionRequest req = Request("gpt2", {pb::EXPLAIN_METHOD_ATTENTION});
  req.add_query_rows(9);
  req.add_query_rows(3);
  req.add_layers(1);
  req.add_heads(2);
  req.set_top_k_keys(3);
  req.set_dtype(pb::EXPLAIN_DTYPE_FLOAT16);
  Reply r = Explain(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.maps.size(), 1u);
  const pb::AttentionBlock& b = r.maps[0];
  EXPECT_EQ(b.values_size(), 0);
  ASSERT_EQ(b.values_f16().size(), 2u * 3 * 2);
  ASSERT_EQ(b.key_indices_size(), 6);
  ASSERT_EQ(b.query_rows_size(), 2);
  EXPECT_EQ(b.query_rows(0), 3u);  // sorted
  EXPECT_EQ(b.top_k(), 3u);
  const std::vector<float>& m = maps[{1u, 2}];
  for (int ri = 0; ri < 2; ++ri) {
    const uint32_t row = b.query_rows(ri);
    std::vector<std::pair<float, uint32_t>> want;
    for (uint32_t k = 0; k < T; ++k) want.push_back({-m[row * T + k], k});
    std::sort(want.begin(), want.end());
    for (int j = 0; j < 3; ++j) {
      uint16_t h;
      std::memcpy(&h, b.values_f16().data() + 2 * (ri * 3 + j), 2);
      EXPECT_EQ(b.key_indices(ri * 3 + j), want[j].second);
      EXPECT_NEAR(explain::HalfToFloat(h), -want[j].first, 1e-3);
    }
  }
  EXPECT_EQ(r.footer.bytes_sent(), 2u * 3 * (2 + 4));
}

TEST(ExplainIntegration, LogitLensEndsAtTheModelsOwnPrediction) {
  pb::ExplainAttentionRequest req = Request("gpt2", {pb::EXPLAIN_METHOD_LOGIT_LENS});
  req.mutable_logit_lens()->set_top_k(4);
  req.mutable_logit_lens()->add_positions(2);
  req.mutable_logit_lens()->add_positions(5);
  Reply r = Explain(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  tasks::TaskModel& local = LocalModel("gpt2");
  const int L = local.info().num_layers;
  ASSERT_EQ(r.lens.size(), static_cast<size_t>(L + 1));  // embeddings .. output
  const tokenizer::Encoding e = local.tokenizer().Encode(kText);
  for (const pb::LogitLensBlock& b : r.lens) {
    ASSERT_EQ(b.positions_size(), 2);
    for (const pb::LensPosition& p : b.positions()) {
      ASSERT_EQ(p.top_size(), 4);
      EXPECT_GE(p.top(0).probability(), p.top(3).probability());
      EXPECT_EQ(p.target_id(), e.ids[p.position() + 1]);  // the next input token
      EXPECT_GE(p.target_rank(), 1u);
      if (b.layer() == static_cast<uint32_t>(L)) EXPECT_NEAR(p.kl_to_final(), 0.0, 1e-6);
    }
  }
  // The last layer is the model's next-token distribution at those positions.
  for (int pi = 0; pi < 2; ++pi) {
    const uint32_t pos = r.lens.back().positions(pi).position();
    auto g = local.GenerateFromIds(std::span<const int32_t>(e.ids.data(), pos + 1), [] {
      runtime::GenerationOptions o;
      o.max_new_tokens = 1;
      return o;
    }());
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(r.lens.back().positions(pi).top(0).id(), g->sequences[0].tokens[0]);
  }
  // Default: the next-token target, ranked first by the output layer.
  Reply d = Explain(Request("gpt2", {pb::EXPLAIN_METHOD_LOGIT_LENS}));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.header.target_kind(), pb::EXPLAIN_TARGET_NEXT_TOKEN);
  ASSERT_EQ(d.header.targets_size(), 1);
  const pb::LensPosition& last = d.lens.back().positions(0);
  EXPECT_EQ(last.position(), e.ids.size() - 1);
  EXPECT_EQ(last.target_id(), d.header.targets(0).id());
  EXPECT_EQ(last.target_rank(), 1u);
  EXPECT_FLOAT_EQ(last.target_probability(), last.top(0).probability());
}

TEST(ExplainIntegration, GenerateFirstExplainsTheContinuation) {
  pb::ExplainAttentionRequest req = Request("gpt2", {pb::EXPLAIN_METHOD_ATTENTION,
                                                     pb::EXPLAIN_METHOD_OCCLUSION});
  req.set_generate_tokens(5);
  req.add_layers(0);
  Reply r = Explain(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  tasks::TaskModel& local = LocalModel("gpt2");
  runtime::GenerationOptions o;
  o.max_new_tokens = 5;
  o.eos_token_ids = local.generation_defaults().eos_token_ids;
  auto g = local.Generate(kText, o);
  ASSERT_TRUE(g.ok());
  const auto& gen = g->sequences[0].tokens;
  const size_t P = r.header.input_tokens();
  EXPECT_EQ(r.header.target_kind(), pb::EXPLAIN_TARGET_GENERATED);
  EXPECT_EQ(r.header.generated_text(), local.tokenizer().Decode(gen));
  ASSERT_EQ(static_cast<size_t>(r.header.tokens_size()), P + gen.size());
  ASSERT_EQ(static_cast<size_t>(r.header.targets_size()), gen.size());
  for (size_t i = 0; i < gen.size(); ++i) {
    EXPECT_EQ(r.header.targets(i).position(), P - 1 + i);
    EXPECT_EQ(r.header.targets(i).id(), gen[i]);
  }
  EXPECT_EQ(r.maps[0].query_tokens(), P + gen.size());
  ASSERT_EQ(r.attributions.size(), 1u);
  const pb::AttributionBlock& a = r.attributions[0];
  EXPECT_EQ(static_cast<size_t>(a.token_attribution_size()), gen.size() * (P + gen.size()));
  EXPECT_EQ(a.feature_attribution_size(), static_cast<int>(P));  // one per input token
  // Passes: generated tokens, the capture forward, occlusion's P + 2 copies.
  EXPECT_EQ(r.footer.forward_passes(), gen.size() + 1 + P + 2);
  EXPECT_EQ(r.footer.usage().generated_tokens(), gen.size());
}

TEST(ExplainIntegration, AttributionsForAClassifierAreSeededAndNamedByLabel) {
  pb::ExplainAttentionRequest req =
      Request("nli", {pb::EXPLAIN_METHOD_OCCLUSION, pb::EXPLAIN_METHOD_LIME});
  req.set_text_pair("An animal is tired");
  const std::string label = LocalModel("nli").info().id2label.at(1);
  req.mutable_target()->set_label(label);
  req.mutable_attribution()->set_samples(40);
  req.mutable_attribution()->set_seed(11);
  req.mutable_attribution()->set_granularity(pb::EXPLAIN_GRANULARITY_WORD);
  Reply a = Explain(req), b = Explain(req);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(a.header.target_kind(), pb::EXPLAIN_TARGET_CLASS_LABEL);
  ASSERT_EQ(a.header.targets_size(), 1);
  EXPECT_EQ(a.header.targets(0).id(), 1);
  EXPECT_EQ(a.header.targets(0).text(), label);
  ASSERT_EQ(a.attributions.size(), 2u);
  EXPECT_EQ(a.attributions[0].method(), pb::EXPLAIN_METHOD_OCCLUSION);
  EXPECT_EQ(a.attributions[1].method(), pb::EXPLAIN_METHOD_LIME);
  const size_t T = a.header.tokens_size();
  for (int m = 0; m < 2; ++m) {
    const auto& x = a.attributions[m];
    EXPECT_EQ(static_cast<size_t>(x.sequence_attribution_size()), T);
    EXPECT_EQ(x.feature_text_size(), x.feature_attribution_size());
    EXPECT_LT(x.base_score(), 0.0);  // a log-probability
    for (size_t t = 0; t < T; ++t) {
      if (a.header.tokens(t).special()) EXPECT_EQ(x.feature_of_token(t), -1);
    }
    EXPECT_EQ(std::vector<float>(x.feature_attribution().begin(), x.feature_attribution().end()),
              std::vector<float>(b.attributions[m].feature_attribution().begin(),
                                 b.attributions[m].feature_attribution().end()));
  }
  // Words: "didn't" is one feature; its text is the input's bytes.
  const auto& texts = a.attributions[0].feature_text();
  EXPECT_NE(std::find(texts.begin(), texts.end(), "didn't"), texts.end());
  EXPECT_EQ(a.attributions[1].evaluations(), 41u);
}

TEST(ExplainIntegration, ProjectionPlacesEveryText) {
  pb::ExplainAttentionRequest req = Request("embed", {pb::EXPLAIN_METHOD_PROJECTION});
  for (const char* t : {"A cat sat.", "A dog ran.", "Stocks fell sharply.", "Markets dropped."}) {
    req.mutable_projection()->add_texts(t);
  }
  req.mutable_projection()->set_dims(3);
  Reply r = Explain(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.projections.size(), 1u);
  const pb::ProjectionBlock& p = r.projections[0];
  EXPECT_EQ(p.texts_size(), 5);
  EXPECT_EQ(p.texts(0), kText);
  EXPECT_EQ(p.coordinates_size(), 15);
  ASSERT_EQ(p.explained_variance_ratio_size(), 3);
  double total = 0;
  for (int k = 0; k < 3; ++k) {
    total += p.explained_variance_ratio(k);
    if (k > 0) EXPECT_LE(p.explained_variance_ratio(k), p.explained_variance_ratio(k - 1));
  }
  EXPECT_LE(total, 1.0 + 1e-6);
  EXPECT_GT(total, 0.5);
  // Coordinates are centred.
  for (int k = 0; k < 3; ++k) {
    double mean = 0;
    for (int i = 0; i < 5; ++i) mean += p.coordinates(i * 3 + k);
    EXPECT_NEAR(mean / 5, 0.0, 1e-4);
  }
  EXPECT_EQ(r.footer.forward_passes(), 5u);
}

TEST(ExplainIntegration, BudgetsRefuseWithASelectionThatFitsOrTruncate) {
  pb::ExplainAttentionRequest req = Request("gpt2", {pb::EXPLAIN_METHOD_ATTENTION});
  Reply full = Explain(req);
  ASSERT_TRUE(full.status.ok());
  const uint64_t all = full.footer.bytes_sent();
  req.mutable_budget()->set_max_bytes(all / 2);
  Reply over = Explain(req);
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(over.status.error_message().find("budget.max_bytes"), std::string::npos);
  EXPECT_NE(over.status.error_message().find("at most 1 of the 2 selected layers"),
            std::string::npos)
      << over.status.error_message();
  req.mutable_budget()->set_allow_truncation(true);
  Reply cut = Explain(req);
  ASSERT_TRUE(cut.status.ok());
  EXPECT_TRUE(cut.footer.truncated());
  EXPECT_LE(cut.footer.bytes_sent(), all / 2);
  EXPECT_GT(cut.footer.omitted_size(), 0);
  EXPECT_EQ(cut.maps.size() + cut.footer.omitted_size(), full.maps.size());

  pb::ExplainAttentionRequest lime = Request("gpt2", {pb::EXPLAIN_METHOD_LIME});
  lime.mutable_attribution()->set_samples(500);
  lime.mutable_budget()->set_max_forward_passes(100);
  Reply passes = Explain(lime);
  EXPECT_EQ(passes.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(passes.status.error_message().find("attribution.samples <= 98"), std::string::npos)
      << passes.status.error_message();
}

TEST(ExplainIntegration, BadRequestsGetInvalidArgument) {
  std::vector<std::pair<pb::ExplainAttentionRequest, std::string>> cases;
  cases.push_back({Request("nli", {pb::EXPLAIN_METHOD_LOGIT_LENS}), "LOGIT_LENS"});
  cases.push_back({Request("embed", {pb::EXPLAIN_METHOD_OCCLUSION}), "classification head"});
  auto label = Request("nli", {pb::EXPLAIN_METHOD_OCCLUSION});
  label.mutable_target()->set_label("no-such-label");
  cases.push_back({label, "target.label"});
  auto rows = Request("gpt2", {});
  rows.add_query_rows(999);
  cases.push_back({rows, "query_rows"});
  auto gen = Request("nli", {});
  gen.set_generate_tokens(3);
  cases.push_back({gen, "generate_tokens"});
  auto proj = Request("gpt2", {pb::EXPLAIN_METHOD_PROJECTION});
  cases.push_back({proj, "projection.texts"});
  auto layer = Request("gpt2", {pb::EXPLAIN_METHOD_ATTENTION});
  layer.add_layers(2);  // == num_layers: only the lens and projection have it
  cases.push_back({layer, "layers[0]"});
  auto method = Request("gpt2", {});
  method.add_methods(static_cast<pb::ExplainMethod>(99));
  cases.push_back({method, "methods[0]"});
  for (const auto& [req, needle] : cases) {
    SCOPED_TRACE(needle);
    Reply r = Explain(req);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(r.status.error_message().find(needle), std::string::npos)
        << r.status.error_message();
  }
  // The server is fine afterwards.
  EXPECT_TRUE(Explain(Request("gpt2", {})).status.ok());
}

}  // namespace
}  // namespace infer::testing
