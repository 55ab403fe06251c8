// Embed, Classify, Tokenize, ExplainAttention and ListModels over the wire against the engine in
// this process.
#include <cmath>
#include <thread>

#include "gtest/gtest.h"
#include "server/explain/model_runs.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

TEST(TasksIntegration, ListModelsDescribesEachModel) {
  auto r = SharedClient().ListModels();
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  std::map<std::string, v1::ModelInfo> by_name;
  for (const auto& m : r.value.models()) by_name[m.name()] = m;
  ASSERT_EQ(by_name.size(), 4u);
  const v1::ModelInfo& g = by_name["gpt2"];
  EXPECT_TRUE(g.causal());
  EXPECT_EQ(g.family(), "gpt2");
  EXPECT_EQ(g.layers(), static_cast<uint32_t>(LocalModel("gpt2").info().num_layers));
  EXPECT_EQ(g.vocab_size(), static_cast<uint32_t>(LocalModel("gpt2").info().vocab_size));
  EXPECT_NE(std::find(g.rpcs().begin(), g.rpcs().end(), "Generate"), g.rpcs().end());
  EXPECT_EQ(std::find(g.rpcs().begin(), g.rpcs().end(), "Embed"), g.rpcs().end());
  const v1::ModelInfo& nli = by_name["nli"];
  EXPECT_FALSE(nli.causal());
  EXPECT_EQ(nli.labels_size(), 3);
  EXPECT_EQ(nli.backend(), "cpu");
}

TEST(TasksIntegration, EmbedEqualsEngine) {
  v1::EmbedRequest req;
  req.set_model("embed");
  req.add_inputs("free software");
  req.add_inputs("open source code");
  req.add_inputs("a recipe for bread");
  auto r = SharedClient().Embed(req);
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  auto want = LocalModel("embed").Embed({"free software", "open source code", "a recipe for bread"});
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(r.value.embeddings_size(), 3);
  EXPECT_EQ(r.value.dimensions(), want->vectors[0].size());
  for (int i = 0; i < 3; ++i) {
    const auto& got = r.value.embeddings(i);
    ASSERT_EQ(static_cast<size_t>(got.values_size()), want->vectors[i].size());
    for (int k = 0; k < got.values_size(); ++k) {
      EXPECT_FLOAT_EQ(got.values(k), want->vectors[i][k]);
    }
    EXPECT_EQ(got.tokens(), static_cast<uint32_t>(want->token_counts[i]));
  }
  EXPECT_GT(r.value.usage().prompt_tokens(), 0u);
}

// The Prometheus sample `name_and_labels` from the shared server, -1 when absent.
double ServerSample(const std::string& name_and_labels) {
  return MetricSample(HttpGet(SharedServer().metrics_port(), "/metrics"), name_and_labels);
}

TEST(TasksIntegration, ConcurrentEmbedRequestsShareForwardsAndEqualEachAlone) {
  const int kClients = 16;
  const double forwards_before = ServerSample("infer_batch_sequences_count{model=\"embed\"}");
  std::vector<std::string> texts;
  for (int i = 0; i < kClients; ++i) texts.push_back("sentence number " + std::to_string(i) + " about bread");
  std::vector<client::Result<v1::EmbedResponse>> got(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      v1::EmbedRequest req;
      req.set_model("embed");
      req.add_inputs(texts[i]);
      got[i] = SharedClient().Embed(req);
    });
  }
  for (auto& t : threads) t.join();
  const double forwards = ServerSample("infer_batch_sequences_count{model=\"embed\"}") - forwards_before;
  EXPECT_GE(forwards, 1);
  EXPECT_LT(forwards, kClients) << "no two requests shared a forward";
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(got[i].ok()) << got[i].status.error_message();
    auto want = LocalModel("embed").Embed({texts[i]});
    ASSERT_TRUE(want.ok());
    const auto& v = got[i].value.embeddings(0);
    ASSERT_EQ(static_cast<size_t>(v.values_size()), want->vectors[0].size());
    // Shared forwards round differently from a forward alone (BLAS blocking), within 1e-6.
    for (int k = 0; k < v.values_size(); ++k) EXPECT_NEAR(v.values(k), want->vectors[0][k], 1e-6);
  }
}

TEST(TasksIntegration, EmbedTruncatesOnlyWhenAsked) {
  std::string longtext;
  for (int i = 0; i < 300; ++i) longtext += "word ";
  v1::EmbedRequest req;
  req.set_model("embed");
  req.add_inputs(longtext);
  auto refused = SharedClient().Embed(req);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.status.error_message().find("inputs[0]"), std::string::npos);
  req.set_truncate(true);
  auto cut = SharedClient().Embed(req);
  ASSERT_TRUE(cut.ok()) << cut.status.error_message();
  EXPECT_GT(cut.value.embeddings(0).truncated_tokens(), 0u);
  EXPECT_EQ(cut.value.embeddings(0).tokens(),
            static_cast<uint32_t>(LocalModel("embed").max_input_tokens()));
}

TEST(TasksIntegration, ClassifyHeadEqualsEngineSortedBestFirst) {
  v1::ClassifyRequest req;
  req.set_model("nli");
  req.add_inputs("the software is free");
  req.add_pairs("the software costs nothing");
  auto r = SharedClient().Classify(req);
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  auto want = LocalModel("nli").Classify({"the software is free"}, {"the software costs nothing"});
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(r.value.results_size(), 1);
  const auto& labels = r.value.results(0).labels();
  ASSERT_EQ(labels.size(), 3);
  for (int i = 0; i + 1 < labels.size(); ++i) EXPECT_GE(labels[i].score(), labels[i + 1].score());
  for (const auto& l : labels) {
    size_t k = std::find(want->labels.begin(), want->labels.end(), l.label()) - want->labels.begin();
    ASSERT_LT(k, want->labels.size());
    EXPECT_NEAR(l.score(), want->scores[0].probs[k], 1e-7);
    EXPECT_NEAR(l.logit(), want->scores[0].logits[k], 1e-6);
  }
  EXPECT_EQ(r.value.method(), v1::ZERO_SHOT_METHOD_UNSPECIFIED);
}

TEST(TasksIntegration, MultiLabelHeadUsesSigmoid) {
  v1::ClassifyRequest req;
  req.set_model("multi");
  req.add_inputs("some text");
  auto r = SharedClient().Classify(req);
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  for (const auto& l : r.value.results(0).labels()) {
    EXPECT_NEAR(l.score(), 1.0 / (1.0 + std::exp(-l.logit())), 1e-6);
  }
}

TEST(TasksIntegration, ZeroShotByLanguageModelEqualsEngine) {
  v1::ClassifyRequest req;
  req.set_model("gpt2");
  req.add_inputs("You may copy and distribute the software.");
  req.add_labels("permission");
  req.add_labels("restriction");
  req.set_top_k(1);
  auto r = SharedClient().Classify(req);
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  EXPECT_EQ(r.value.method(), v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL);
  auto want = LocalModel("gpt2").ZeroShot("You may copy and distribute the software.",
                                           {"permission", "restriction"});
  ASSERT_TRUE(want.ok());
  const int best = want->scores.probs[0] >= want->scores.probs[1] ? 0 : 1;
  ASSERT_EQ(r.value.results(0).labels_size(), 1);
  EXPECT_EQ(r.value.results(0).labels(0).label(), best == 0 ? "permission" : "restriction");
  EXPECT_NEAR(r.value.results(0).labels(0).score(), want->scores.probs[best], 1e-9);
}

TEST(TasksIntegration, ZeroShotByNliAndByEmbeddings) {
  v1::ClassifyRequest req;
  req.set_model("nli");
  req.add_inputs("the software is free");
  req.add_labels("money");
  req.add_labels("law");
  req.add_labels("art");
  auto nli = SharedClient().Classify(req);
  ASSERT_TRUE(nli.ok()) << nli.status.error_message();
  EXPECT_EQ(nli.value.method(), v1::ZERO_SHOT_METHOD_NLI);
  double sum = 0;
  for (const auto& l : nli.value.results(0).labels()) sum += l.score();
  EXPECT_NEAR(sum, 1.0, 1e-6);

  req.set_model("embed");
  auto emb = SharedClient().Classify(req);
  ASSERT_TRUE(emb.ok()) << emb.status.error_message();
  EXPECT_EQ(emb.value.method(), v1::ZERO_SHOT_METHOD_EMBEDDING);
  EXPECT_EQ(emb.value.results(0).labels_size(), 3);
}

TEST(TasksIntegration, TokenizeEqualsTokenizerWithOffsets) {
  v1::TokenizeRequest req;
  req.set_model("nli");
  req.add_inputs("Héllo wörld");
  req.add_pairs("second part");
  auto r = SharedClient().Tokenize(req);
  ASSERT_TRUE(r.ok()) << r.status.error_message();
  tokenizer::Encoding want = LocalModel("nli").tokenizer().EncodePair("Héllo wörld", "second part");
  const auto& got = r.value.results(0);
  ASSERT_EQ(static_cast<size_t>(got.tokens_size()), want.ids.size());
  for (size_t i = 0; i < want.ids.size(); ++i) {
    EXPECT_EQ(got.tokens(i).id(), want.ids[i]);
    EXPECT_EQ(got.ids(i), want.ids[i]);
    EXPECT_EQ(got.tokens(i).text(), want.tokens[i]);
    EXPECT_EQ(got.tokens(i).start(), want.offsets[i].first);
    EXPECT_EQ(got.tokens(i).end(), want.offsets[i].second);
    EXPECT_EQ(got.tokens(i).special(), want.special_mask[i] != 0);
    EXPECT_EQ(got.tokens(i).segment(), static_cast<uint32_t>(want.type_ids[i]));
  }
  req.clear_pairs();
  req.set_add_special_tokens(false);
  auto plain = SharedClient().Tokenize(req);
  ASSERT_TRUE(plain.ok());
  for (const auto& t : plain.value.results(0).tokens()) EXPECT_FALSE(t.special());
}

TEST(TasksIntegration, ExplainAttentionStreamsHeaderLayersFooter) {
  for (const std::string model : {"gpt2", "nli"}) {
    SCOPED_TRACE(model);
    v1::ExplainAttentionRequest req;
    req.set_model(model);
    req.set_text("The animal didn't cross the street");
    req.add_heads(1);
    req.add_heads(3);
    std::vector<v1::ExplainAttentionResponse> msgs;
    grpc::Status st = SharedClient().ExplainAttention(req, [&](const v1::ExplainAttentionResponse& r) {
      msgs.push_back(r);
      return true;
    });
    ASSERT_TRUE(st.ok()) << st.error_message();
    tasks::TaskModel& local = LocalModel(model);
    const int layers = local.info().num_layers;
    ASSERT_EQ(msgs.size(), static_cast<size_t>(layers + 2));
    ASSERT_TRUE(msgs.front().has_header());
    ASSERT_TRUE(msgs.back().has_footer());
    tokenizer::Encoding e = local.tokenizer().Encode("The animal didn't cross the street");
    ASSERT_EQ(static_cast<size_t>(msgs.front().header().tokens_size()), e.ids.size());
    explain::CaptureWants wants;
    wants.attentions = true;
    auto want = explain::CaptureForward(local, e.ids, e.type_ids, wants);
    ASSERT_TRUE(want.ok());
    const size_t T = e.ids.size();
    for (int l = 0; l < layers; ++l) {
      const v1::AttentionBlock& a = msgs[1 + l].attention();
      EXPECT_EQ(a.layer(), static_cast<uint32_t>(l));
      ASSERT_EQ(a.heads_size(), 2);
      ASSERT_EQ(static_cast<size_t>(a.values_size()), 2 * T * T);
      for (int h = 0; h < 2; ++h) {
        const float* want_head = want->attentions[l].data() + a.heads(h) * T * T;
        for (size_t q = 0; q < T; ++q) {
          double row = 0;
          for (size_t k = 0; k < T; ++k) {
            float v = a.values(static_cast<int>(h * T * T + q * T + k));
            EXPECT_FLOAT_EQ(v, want_head[q * T + k]);
            if (local.causal() && k > q) {
              EXPECT_EQ(v, 0.0f);
            }
            row += v;
          }
          EXPECT_NEAR(row, 1.0, 1e-5);
        }
      }
    }
    EXPECT_EQ(msgs.back().footer().forward_passes(), 1u);
    EXPECT_EQ(msgs.back().footer().bytes_sent(), layers * 2 * T * T * sizeof(float));
  }
}

}  // namespace
}  // namespace infer::testing
