// BERT, DistilBERT and RoBERTa classifiers and the sentence-transformers embedding folder against
// transformers: hidden states, attentions, pooler, logits, probabilities and embeddings, one input
// at a time and all inputs packed in one batch.
#include <gtest/gtest.h>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/tasks/encoder_tasks.h"

namespace infer {
namespace {

using testing::GoldenTensors;
using testing::kFloat32Tolerance;
using testing::MaxAbsError;
using testing::ReadGoldenJson;
using testing::RelativeError;

tasks::TokenizedInput InputOf(const nlohmann::json& c) {
  tasks::TokenizedInput in;
  in.ids = c["input_ids"].get<std::vector<int32_t>>();
  if (c.contains("token_type_ids")) in.type_ids = c["token_type_ids"].get<std::vector<int32_t>>();
  return in;
}

void CheckClassifier(const std::string& name) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/" + name), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->encoder);
  model::EncoderModel& enc = *m->encoder;
  nlohmann::json meta = ReadGoldenJson("expected/" + name + ".json");
  GoldenTensors want("expected/" + name + ".safetensors");
  ASSERT_TRUE(enc.has_classifier());
  EXPECT_EQ(enc.info().multi_label, meta["probs_function"] == "sigmoid");
  for (const auto& [id, label] : meta["id2label"].items()) {
    EXPECT_EQ(enc.info().id2label.at(std::stoll(id)), label.get<std::string>());
  }
  const int layers = enc.info().num_layers;
  std::vector<tasks::TokenizedInput> all;
  for (const auto& c : meta["cases"]) {
    const std::string cname = c["name"];
    SCOPED_TRACE(name + " case " + cname);
    tasks::TokenizedInput in = InputOf(c);
    all.push_back(in);
    model::EncoderBatch batch;
    batch.tokens = in.ids;
    batch.type_ids = in.type_ids;
    batch.cu_seqlens = {0, static_cast<int32_t>(in.ids.size())};
    model::ForwardCapture cap;
    cap.want_hidden_states = cap.want_attentions = true;
    model::EncoderOutput out;
    ASSERT_TRUE(enc.Forward(batch, &cap, &out).ok());
    for (int i = 0; i <= layers; ++i) {
      EXPECT_LT(RelativeError(cap.hidden[i], want.Get(cname + ".hidden_states." + std::to_string(i))),
                kFloat32Tolerance)
          << "hidden state " << i;
    }
    for (int i = 0; i < layers; ++i) {
      EXPECT_LT(RelativeError(cap.attentions[i], want.Get(cname + ".attentions." + std::to_string(i))),
                kFloat32Tolerance)
          << "attention " << i;
    }
    if (want.Has(cname + ".pooler_output")) {
      EXPECT_LT(RelativeError(out.pooled, want.Get(cname + ".pooler_output")), kFloat32Tolerance);
    }
    EXPECT_LT(RelativeError(out.class_logits, want.Get(cname + ".logits")), kFloat32Tolerance);
  }
  // The task path, all inputs packed together: probabilities within 1e-5.
  auto scores = tasks::ClassifyTokens(enc, all);
  ASSERT_TRUE(scores.ok()) << scores.status();
  size_t i = 0;
  for (const auto& c : meta["cases"]) {
    EXPECT_LT(MaxAbsError((*scores)[i].probs, want.Get(c["name"].get<std::string>() + ".probs")),
              1e-5)
        << c["name"];
    ++i;
  }
}

TEST(EncoderGolden, BertClassifierMatchesTransformers) { CheckClassifier("bert"); }
TEST(EncoderGolden, DistilBertMultiLabelMatchesTransformers) { CheckClassifier("distilbert"); }
TEST(EncoderGolden, RobertaClassifierMatchesTransformers) { CheckClassifier("roberta"); }

TEST(EncoderGolden, SentenceEmbeddingsMatchTransformers) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/bert-embed"), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->pooling.has_value());
  EXPECT_EQ(m->pooling->mode, model::PoolingMode::kMean);
  EXPECT_TRUE(m->pooling->normalize);
  nlohmann::json meta = ReadGoldenJson("expected/bert-embed.json");
  GoldenTensors want("expected/bert-embed.safetensors");
  std::vector<tasks::TokenizedInput> inputs;
  for (const auto& c : meta["cases"]) inputs.push_back(InputOf(c));
  auto emb = tasks::EmbedTokens(*m->encoder, inputs, m->pooling->mode, m->pooling->normalize);
  ASSERT_TRUE(emb.ok()) << emb.status();
  auto raw = tasks::EmbedTokens(*m->encoder, inputs, model::PoolingMode::kMean, false);
  ASSERT_TRUE(raw.ok());
  size_t i = 0;
  for (const auto& c : meta["cases"]) {
    const std::string cname = c["name"];
    EXPECT_LT(RelativeError((*emb)[i], want.Get(cname + ".embedding")), kFloat32Tolerance) << cname;
    EXPECT_LT(RelativeError((*raw)[i], want.Get(cname + ".mean_pooled")), kFloat32Tolerance) << cname;
    ++i;
  }
  const auto& sims = meta["cosine_similarity"]["matrix"];
  for (size_t a = 0; a < inputs.size(); ++a) {
    for (size_t b = 0; b < inputs.size(); ++b) {
      float dot = 0;
      for (size_t k = 0; k < (*emb)[a].size(); ++k) dot += (*emb)[a][k] * (*emb)[b][k];
      EXPECT_NEAR(dot, sims[a][b].get<double>(), 1e-5);
    }
  }
}

TEST(EncoderGolden, BadInputsAreRejected) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("models/bert"), backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  model::EncoderModel& enc = *m->encoder;
  model::EncoderOutput out;
  model::EncoderBatch oov{{enc.info().vocab_size}, {}, {0, 1}};
  EXPECT_EQ(enc.Forward(oov, nullptr, &out).code(), absl::StatusCode::kInvalidArgument);
  model::EncoderBatch too_long{std::vector<int32_t>(enc.max_tokens() + 1, 1), {},
                               {0, enc.max_tokens() + 1}};
  EXPECT_EQ(enc.Forward(too_long, nullptr, &out).code(), absl::StatusCode::kInvalidArgument);
  model::EncoderBatch bad_type{{1, 2}, {0, 7}, {0, 2}};
  EXPECT_EQ(enc.Forward(bad_type, nullptr, &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EncoderGolden, UnknownModelTypeIsRejected) {
  auto backend = kernels::MakeCpuBackend();
  auto m = model::LoadModel(testing::GoldenPath("does-not-exist"), backend.get());
  EXPECT_FALSE(m.ok());
}

}  // namespace
}  // namespace infer
