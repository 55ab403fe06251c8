// GPT-2 forward passes against transformers: logits, every hidden state and every attention map
// of each golden case, for float32, bf16, f16 and sharded folders; then the same logits through
// the paged cache in chunks, across block boundaries and batched with other sequences.
#include <gtest/gtest.h>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/model/registry.h"
#include "server/runtime/lm_engine.h"

namespace infer {
namespace {

using testing::GoldenTensors;
using testing::kFloat32Tolerance;
using testing::ReadGoldenJson;
using testing::RelativeError;

struct Loaded {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend();
  std::unique_ptr<runtime::LmEngine> engine;
};

Loaded LoadEngine(const std::string& folder, int block_size = 16, int num_blocks = 64) {
  Loaded l;
  auto m = model::LoadModel(testing::GoldenPath(folder), l.backend.get());
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return l;
  runtime::LmEngineOptions o;
  o.block_size = block_size;
  o.num_blocks = num_blocks;
  l.engine = std::make_unique<runtime::LmEngine>(std::move(m->decoder), l.backend.get(), o);
  return l;
}

std::vector<int32_t> Ids(const nlohmann::json& c) { return c["input_ids"].get<std::vector<int32_t>>(); }

void CheckModel(const std::string& expected_name, const std::string& folder) {
  nlohmann::json meta = ReadGoldenJson("expected/" + expected_name + ".json");
  GoldenTensors want("expected/" + expected_name + ".safetensors");
  Loaded l = LoadEngine(folder);
  ASSERT_TRUE(l.engine);
  const int layers = l.engine->info().num_layers;
  for (const auto& c : meta["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(folder + " case " + name);
    auto seq = l.engine->NewSequence();
    ASSERT_TRUE(seq.ok());
    runtime::StepItem item{*seq, Ids(c)};
    model::ForwardCapture cap;
    cap.want_hidden_states = cap.want_attentions = true;
    runtime::StepOptions opt;
    opt.all_logits = true;
    opt.capture = &cap;
    runtime::StepOutput out;
    ASSERT_TRUE(l.engine->StepEx({&item, 1}, opt, &out).ok());
    EXPECT_LT(RelativeError(out.logits, want.Get(name + ".logits")), kFloat32Tolerance);
    ASSERT_EQ(cap.hidden.size(), static_cast<size_t>(layers + 1));
    for (int i = 0; i <= layers; ++i) {
      EXPECT_LT(RelativeError(cap.hidden[i], want.Get(name + ".hidden_states." + std::to_string(i))),
                kFloat32Tolerance)
          << "hidden state " << i;
    }
    for (int i = 0; i < layers; ++i) {
      EXPECT_LT(RelativeError(cap.attentions[i], want.Get(name + ".attentions." + std::to_string(i))),
                kFloat32Tolerance)
          << "attention " << i;
    }
    l.engine->Release(*seq);
  }
  EXPECT_EQ(l.engine->cache().allocator().num_free(), l.engine->cache().allocator().num_blocks());
}

TEST(Gpt2Golden, Float32MatchesTransformers) { CheckModel("gpt2", "models/gpt2"); }
TEST(Gpt2Golden, Bf16WeightsMatchTransformers) { CheckModel("gpt2-bf16", "models/gpt2-bf16"); }
TEST(Gpt2Golden, F16WeightsMatchTransformers) { CheckModel("gpt2-f16", "models/gpt2-f16"); }
TEST(Gpt2Golden, ShardedFolderMatchesTransformers) { CheckModel("gpt2", "models/gpt2-sharded"); }

// Prefill in uneven chunks with tiny blocks, several sequences per step: every position's logits
// equal the one-shot golden logits.
TEST(Gpt2Golden, PagedChunkedBatchedStepsMatch) {
  nlohmann::json meta = ReadGoldenJson("expected/gpt2.json");
  GoldenTensors want("expected/gpt2.safetensors");
  Loaded l = LoadEngine("models/gpt2", /*block_size=*/4, /*num_blocks=*/256);
  ASSERT_TRUE(l.engine);
  const int vocab = l.engine->vocab_size();
  struct Run {
    std::vector<int32_t> ids;
    std::vector<float> logits;
    runtime::SeqId seq;
    size_t done = 0;
    std::vector<float> got;
  };
  std::vector<Run> runs;
  for (const auto& c : meta["cases"]) {
    Run r;
    r.ids = Ids(c);
    r.logits = want.Get(c["name"].get<std::string>() + ".logits");
    r.seq = *l.engine->NewSequence();
    runs.push_back(std::move(r));
  }
  // Chunk sizes cycle through 3, 1, 5, 2 so chunks start and end inside blocks.
  const int chunks[] = {3, 1, 5, 2};
  for (int step = 0;; ++step) {
    std::vector<runtime::StepItem> items;
    std::vector<Run*> who;
    for (Run& r : runs) {
      if (r.done == r.ids.size()) continue;
      size_t n = std::min<size_t>(chunks[(step + who.size()) % 4], r.ids.size() - r.done);
      items.push_back({r.seq, std::vector<int32_t>(r.ids.begin() + r.done, r.ids.begin() + r.done + n)});
      who.push_back(&r);
      r.done += n;
    }
    if (items.empty()) break;
    runtime::StepOptions opt;
    opt.all_logits = true;
    runtime::StepOutput out;
    ASSERT_TRUE(l.engine->StepEx(items, opt, &out).ok());
    size_t row = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      for (size_t t = 0; t < items[i].tokens.size(); ++t, ++row) {
        who[i]->got.insert(who[i]->got.end(), out.logits.begin() + row * vocab,
                           out.logits.begin() + (row + 1) * vocab);
      }
    }
  }
  for (Run& r : runs) {
    EXPECT_LT(RelativeError(r.got, r.logits), kFloat32Tolerance);
    l.engine->Release(r.seq);
  }
  EXPECT_EQ(l.engine->cache().allocator().num_free(), 256);
}

// A fork shares the prefix; both branches continue independently (copy-on-write) and match a
// fresh sequence fed the same tokens.
TEST(Gpt2Golden, ForkedSequencesMatchFreshOnes) {
  nlohmann::json meta = ReadGoldenJson("expected/gpt2.json");
  Loaded l = LoadEngine("models/gpt2", /*block_size=*/4, /*num_blocks=*/64);
  ASSERT_TRUE(l.engine);
  std::vector<int32_t> ids = Ids(meta["cases"][1]);
  ASSERT_GE(ids.size(), 6u);
  std::vector<int32_t> prefix(ids.begin(), ids.begin() + 5);  // ends inside a block
  runtime::SeqId a = *l.engine->NewSequence();
  runtime::StepOutput out;
  runtime::StepItem first{a, prefix};
  ASSERT_TRUE(l.engine->Step({&first, 1}, false, &out).ok());
  runtime::SeqId b = *l.engine->Fork(a);
  std::vector<runtime::StepItem> items = {{a, {ids[5]}}, {b, {ids[0]}}};
  ASSERT_TRUE(l.engine->Step(items, false, &out).ok());
  const int vocab = l.engine->vocab_size();
  std::vector<float> a_logits(out.logits.begin(), out.logits.begin() + vocab);
  std::vector<float> b_logits(out.logits.begin() + vocab, out.logits.end());

  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int32_t> seq_ids = prefix;
    seq_ids.push_back(pass == 0 ? ids[5] : ids[0]);
    runtime::SeqId f = *l.engine->NewSequence();
    runtime::StepItem it{f, seq_ids};
    runtime::StepOutput ref;
    ASSERT_TRUE(l.engine->Step({&it, 1}, false, &ref).ok());
    EXPECT_LT(RelativeError(pass == 0 ? a_logits : b_logits, ref.logits), 1e-5);
    l.engine->Release(f);
  }
  l.engine->Release(a);
  l.engine->Release(b);
  EXPECT_EQ(l.engine->cache().allocator().num_free(), 64);
}

TEST(Gpt2Golden, BadStepsAreRejectedAndLeaveNoBlocks) {
  Loaded l = LoadEngine("models/gpt2", 4, 8);
  ASSERT_TRUE(l.engine);
  runtime::SeqId s = *l.engine->NewSequence();
  runtime::StepOutput out;
  runtime::StepItem oov{s, {l.engine->vocab_size()}};
  EXPECT_EQ(l.engine->Step({&oov, 1}, false, &out).code(), absl::StatusCode::kInvalidArgument);
  runtime::StepItem too_long{s, std::vector<int32_t>(l.engine->max_positions() + 1, 1)};
  EXPECT_EQ(l.engine->Step({&too_long, 1}, false, &out).code(),
            absl::StatusCode::kInvalidArgument);
  // 8 blocks of 4 hold 32 tokens: 40 do not fit, and nothing stays allocated.
  runtime::StepItem full{s, std::vector<int32_t>(40, 1)};
  EXPECT_EQ(l.engine->Step({&full, 1}, false, &out).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(l.engine->cache().allocator().num_free(), 8);
  EXPECT_EQ(l.engine->Length(s), 0);
  runtime::StepItem unknown{12345, {1}};
  EXPECT_EQ(l.engine->Step({&unknown, 1}, false, &out).code(), absl::StatusCode::kInvalidArgument);
  l.engine->Release(s);
}

}  // namespace
}  // namespace infer
