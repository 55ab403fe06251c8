// The continuous-batching scheduler on the embedded default model (models/gpt2-en-mini): many
// concurrent requests give exactly what each gives alone, whatever the batching, chunking, prefix
// caching or preemption; every KV block returns to the pool after finished, cancelled, timed-out
// and preempted requests; the queue refuses over its limits; priorities order admission.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "kernels/backend.h"
#include "server/runtime/generation_scheduler.h"
#include "server/tasks/task_model.h"

namespace infer {
namespace {

using runtime::GenerationOptions;
using runtime::GenerationResult;
using runtime::GenerationScheduler;
using runtime::GenerationStream;
using runtime::ScheduledGeneration;
using runtime::SchedulerOptions;
using runtime::StreamEvent;

const std::string kModelDir = std::string(INFER_GOLDEN_DIR) + "/../../../models/gpt2-en-mini";

class CountingObserver : public runtime::SchedulerObserver {
 public:
  void AddPrefixCache(int64_t q, int64_t h) override { queries += q, hits += h; }
  void AddPreemptions(int n) override { preemptions += n; }
  void ObserveStep(int seqs, int tokens) override {
    ++steps;
    max_seqs = std::max(max_seqs.load(), seqs);
    max_tokens = std::max(max_tokens.load(), tokens);
  }
  void AddRejected(std::string_view) override { ++rejected; }
  std::atomic<int64_t> queries{0}, hits{0};
  std::atomic<int> preemptions{0}, steps{0}, max_seqs{0}, max_tokens{0}, rejected{0};
};

struct Outcome {
  absl::StatusOr<GenerationResult> result = absl::UnknownError("no outcome");
  std::vector<int32_t> streamed;  // token ids of sequence 0 in stream order
};

Outcome Collect(GenerationStream& s, std::function<void(int)> after_token = nullptr) {
  Outcome o;
  std::vector<StreamEvent> ev;
  while (true) {
    ev.clear();
    if (!s.Next(&ev, std::chrono::milliseconds(50))) continue;
    for (StreamEvent& e : ev) {
      if (e.outcome) {
        o.result = std::move(*e.outcome);
        return o;
      }
      if (e.token->sequence_index == 0) o.streamed.push_back(e.token->token);
      if (after_token) after_token(static_cast<int>(o.streamed.size()));
    }
  }
}

class SchedulerTest : public ::testing::Test {
 protected:
  void Load(int num_blocks, bool prefix_caching, int block_size = 16) {
    runtime::LmEngineOptions lm;
    lm.num_blocks = num_blocks;
    lm.block_size = block_size;
    lm.prefix_caching = prefix_caching;
    auto m = tasks::TaskModel::Load(kModelDir, backend_.get(), lm);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
  }
  runtime::LmEngine& engine() { return *model_->lm(); }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend();
  std::unique_ptr<tasks::TaskModel> model_;
};

GenerationOptions Greedy(int max_new) {
  GenerationOptions o;
  o.max_new_tokens = max_new;
  o.repetition_penalty = 1.2;
  return o;
}

// A request that keeps a running slot busy for a while on any machine: 16 sampled sequences that
// never stop at EOS.
ScheduledGeneration Busy(int max_new, uint64_t seed) {
  ScheduledGeneration g;
  g.prompt = {5, 6, 7};
  g.options = Greedy(max_new);
  g.options.do_sample = true;
  g.options.seed = seed;
  g.options.num_return_sequences = 16;
  return g;
}

// 32 requests: prompts of 2 to 70 tokens, a third sharing a 48-token prefix (prefix cache hits),
// outputs of 1 to 40 tokens, some stopping at EOS.
struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationOptions> options;
};

Workload MakeWorkload(int vocab) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(10, vocab - 1);
  std::vector<int32_t> shared(48);
  for (int32_t& t : shared) t = tok(rng);
  Workload w;
  for (int i = 0; i < 32; ++i) {
    std::vector<int32_t> p;
    if (i % 3 == 0) p = shared;
    const int extra = 2 + static_cast<int>(rng() % 22);
    for (int k = 0; k < extra; ++k) p.push_back(tok(rng));
    w.prompts.push_back(p);
    GenerationOptions o = Greedy(1 + static_cast<int>(rng() % 40));
    if (i % 4 == 1) o.no_repeat_ngram_size = 3;
    w.options.push_back(o);
  }
  return w;
}

struct Case {
  const char* name;
  int num_blocks;
  bool prefix_caching;
  int max_step_tokens;
  bool expect_preemptions;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class SchedulerEquality : public SchedulerTest, public ::testing::WithParamInterface<Case> {};

TEST_P(SchedulerEquality, ConcurrentGreedyEqualsAlone) {
  const Case c = GetParam();
  Load(c.num_blocks, c.prefix_caching);
  Workload w = MakeWorkload(model_->info().vocab_size);
  for (size_t i = 0; i < w.options.size(); i += 2) {
    w.options[i].eos_token_ids = model_->generation_defaults().eos_token_ids;
  }
  engine().set_prefix_caching(false);  // the reference is computed from scratch
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    // Alone: the single-request loop, on a pool of its own.
    auto r = model_->GenerateFromIds(w.prompts[i], w.options[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    alone.push_back(r->sequences[0].tokens);
  }
  engine().set_prefix_caching(c.prefix_caching);

  CountingObserver obs;
  SchedulerOptions so;
  so.max_step_tokens = c.max_step_tokens;
  GenerationScheduler sched(&engine(), so, &obs);
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    ScheduledGeneration g;
    g.prompt = w.prompts[i];
    g.options = w.options[i];
    auto s = sched.Submit(std::move(g));
    ASSERT_TRUE(s.ok()) << s.status();
    streams.push_back(*s);
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    SCOPED_TRACE(i);
    Outcome o = Collect(*streams[i]);
    ASSERT_TRUE(o.result.ok()) << o.result.status();
    EXPECT_EQ(o.result->sequences[0].tokens, alone[i]);
    EXPECT_EQ(o.streamed, alone[i]);
  }
  // A tiny pool holds only a few requests at a time.
  EXPECT_GT(obs.max_seqs.load(), c.num_blocks < 32 ? 3 : 8) << "requests were not batched together";
  EXPECT_LE(obs.max_tokens.load(), std::max(c.max_step_tokens, 70));
  if (c.prefix_caching) {
    EXPECT_GT(obs.hits.load(), 0);
  } else {
    EXPECT_EQ(obs.hits.load(), 0);
  }
  if (c.expect_preemptions) {
    EXPECT_GT(obs.preemptions.load(), 0);
  }
  sched.Stop();
  EXPECT_EQ(engine().used_blocks(), 0);
  EXPECT_EQ(engine().live_sequences(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, SchedulerEquality,
    ::testing::Values(Case{"PrefixCaching", 512, true, 512, false},
                      Case{"NoPrefixCaching", 512, false, 512, false},
                      Case{"ChunkedPrefill", 512, true, 24, false},
                      Case{"TinyPoolPreempts", 14, true, 512, true},
                      Case{"TinyPoolNoCache", 14, false, 64, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(SchedulerTest, EveryStrategyEqualsAloneUnderPreemption) {
  Load(20, true);
  std::vector<GenerationOptions> opts;
  GenerationOptions o = Greedy(20);
  o.do_sample = true;
  o.temperature = 0.8;
  o.top_k = 40;
  o.seed = 11;
  o.num_return_sequences = 3;
  opts.push_back(o);
  o = Greedy(12);
  o.num_beams = 4;
  o.num_return_sequences = 2;
  opts.push_back(o);
  o = Greedy(10);
  o.penalty_alpha = 0.6;
  o.top_k = 4;
  opts.push_back(o);
  opts.push_back(Greedy(30));
  std::vector<std::vector<int32_t>> prompts = {{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21},
                                               {300, 301, 302, 303, 304, 305, 306},
                                               {50, 60, 70, 80, 90, 100, 110, 120, 130},
                                               {400, 401, 402, 403, 404, 405, 406, 407}};
  std::vector<GenerationResult> alone;
  for (size_t i = 0; i < opts.size(); ++i) {
    auto r = model_->GenerateFromIds(prompts[i], opts[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    alone.push_back(*r);
  }
  CountingObserver obs;
  GenerationScheduler sched(&engine(), SchedulerOptions{}, &obs);
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (size_t i = 0; i < opts.size(); ++i) {
    ScheduledGeneration g;
    g.prompt = prompts[i];
    g.options = opts[i];
    auto s = sched.Submit(std::move(g));
    ASSERT_TRUE(s.ok()) << s.status();
    streams.push_back(*s);
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    SCOPED_TRACE(i);
    Outcome out = Collect(*streams[i]);
    ASSERT_TRUE(out.result.ok()) << out.result.status();
    ASSERT_EQ(out.result->sequences.size(), alone[i].sequences.size());
    for (size_t k = 0; k < alone[i].sequences.size(); ++k) {
      EXPECT_EQ(out.result->sequences[k].tokens, alone[i].sequences[k].tokens) << "sequence " << k;
      EXPECT_NEAR(out.result->sequences[k].score, alone[i].sequences[k].score, 1e-4);
    }
  }
  EXPECT_GT(obs.preemptions.load(), 0) << "the pool was meant to be too small for all at once";
  sched.Stop();
  EXPECT_EQ(engine().used_blocks(), 0);
}

TEST_F(SchedulerTest, CancelledAndTimedOutRequestsFreeTheirBlocks) {
  Load(256, true);
  GenerationScheduler sched(&engine(), SchedulerOptions{});
  ScheduledGeneration g;
  g.prompt = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};
  g.options = Greedy(100);
  g.options.eos_token_ids.clear();
  // Cancelled after its third token.
  auto a = sched.Submit(g);
  ASSERT_TRUE(a.ok());
  GenerationStream* as = a->get();
  Outcome oa = Collect(*as, [as](int n) { if (n == 3) as->Cancel(); });
  EXPECT_EQ(oa.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(oa.streamed.size(), 100u);
  // A deadline that passes mid-generation.
  // 32 sampled sequences: far more work than the deadline allows on any machine.
  ScheduledGeneration d = g;
  d.options.do_sample = true;
  d.options.seed = 1;
  d.options.num_return_sequences = 32;
  d.life.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  auto b = sched.Submit(d);
  ASSERT_TRUE(b.ok());
  Outcome ob = Collect(**b);
  EXPECT_EQ(ob.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  // A client probe that reports the client gone.
  ScheduledGeneration gone = g;
  std::atomic<bool> flag{false};
  gone.life.cancelled = [&flag] { return flag.load(); };
  auto c = sched.Submit(gone);
  ASSERT_TRUE(c.ok());
  Outcome oc = Collect(**c, [&flag](int n) { if (n == 2) flag = true; });
  EXPECT_EQ(oc.result.status().code(), absl::StatusCode::kCancelled);
  // The outcome is sent after the blocks are freed.
  EXPECT_EQ(engine().used_blocks(), 0);
  EXPECT_EQ(engine().live_sequences(), 0);
}

TEST_F(SchedulerTest, DeadlineAndCancellationWhileQueued) {
  Load(256, true);
  SchedulerOptions so;
  so.max_running_requests = 1;
  GenerationScheduler sched(&engine(), so);
  ScheduledGeneration busy = Busy(120, 2);
  auto first = sched.Submit(busy);
  ASSERT_TRUE(first.ok());
  ScheduledGeneration late = busy;
  late.life.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  auto second = sched.Submit(late);
  ScheduledGeneration cancelled = busy;
  auto third = sched.Submit(cancelled);
  ASSERT_TRUE(second.ok() && third.ok());
  (*third)->Cancel();
  EXPECT_EQ(Collect(**second).result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Collect(**third).result.status().code(), absl::StatusCode::kCancelled);
  Outcome o = Collect(**first);
  ASSERT_TRUE(o.result.ok());
  EXPECT_EQ(o.result->sequences[0].tokens.size(), 120u);
  EXPECT_EQ(engine().used_blocks(), 0);
}

TEST_F(SchedulerTest, BurstOverTheQueueLimitGetsOnlyOkOrResourceExhausted) {
  Load(256, true);
  CountingObserver obs;
  SchedulerOptions so;
  so.max_running_requests = 2;
  so.queue.max_waiting_requests = 4;
  GenerationScheduler sched(&engine(), so, &obs);
  std::vector<std::shared_ptr<GenerationStream>> accepted;
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    ScheduledGeneration g;
    g.prompt = {static_cast<int32_t>(20 + i), 7, 8, 9};
    g.options = Greedy(8);
    auto s = sched.Submit(std::move(g));
    if (s.ok()) {
      accepted.push_back(*s);
    } else {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
      EXPECT_NE(s.status().message().find("queue is full"), std::string::npos);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GE(accepted.size(), 4u);
  EXPECT_EQ(obs.rejected.load(), refused);
  for (auto& s : accepted) EXPECT_TRUE(Collect(*s).result.ok());
  EXPECT_EQ(engine().used_blocks(), 0);
}

TEST_F(SchedulerTest, TokenLimitRefusesLongPrompts) {
  Load(256, true);
  SchedulerOptions so;
  so.queue.max_waiting_tokens = 10;
  GenerationScheduler sched(&engine(), so);
  ScheduledGeneration g;
  g.prompt.assign(11, 42);
  g.options = Greedy(2);
  auto s = sched.Submit(std::move(g));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerTest, LowerPriorityValueRunsFirst) {
  Load(256, true);
  SchedulerOptions so;
  so.max_running_requests = 1;
  GenerationScheduler sched(&engine(), so);
  ScheduledGeneration busy = Busy(60, 4);
  auto a = sched.Submit(busy);
  std::vector<std::string> order;
  std::mutex mu;
  ScheduledGeneration low = busy, high = busy;
  low.options = Greedy(4);
  high.options = Greedy(4);
  low.priority = 5;
  high.priority = -1;
  auto b = sched.Submit(low);
  auto c = sched.Submit(high);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  std::thread tb([&] { Collect(**b); std::lock_guard<std::mutex> l(mu); order.push_back("low"); });
  std::thread tc([&] { Collect(**c); std::lock_guard<std::mutex> l(mu); order.push_back("high"); });
  Collect(**a);
  tb.join();
  tc.join();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], "high");
}

TEST_F(SchedulerTest, InvalidRequestIsRefusedAtSubmit) {
  Load(64, true);
  GenerationScheduler sched(&engine(), SchedulerOptions{});
  ScheduledGeneration g;
  g.prompt = {1, 2, model_->info().vocab_size + 5};
  g.options = Greedy(3);
  EXPECT_EQ(sched.Submit(g).status().code(), absl::StatusCode::kInvalidArgument);
  g.prompt = {1, 2};
  g.options.top_p = 2.0;
  EXPECT_EQ(sched.Submit(g).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, ARequestBiggerThanThePoolFailsAloneAndOthersGoOn) {
  Load(4, true);  // 64 tokens of KV
  GenerationScheduler sched(&engine(), SchedulerOptions{});
  ScheduledGeneration big;
  big.prompt.assign(40, 33);
  big.options = Greedy(60);
  big.options.eos_token_ids.clear();
  ScheduledGeneration small;
  small.prompt = {8, 9, 10};
  small.options = Greedy(5);
  auto a = sched.Submit(big);
  auto b = sched.Submit(small);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Collect(**a).result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Collect(**b).result.ok());
  EXPECT_EQ(engine().used_blocks(), 0);
}

TEST_F(SchedulerTest, ExclusiveJobsRunBetweenStepsAndStopFailsTheRest) {
  Load(256, true);
  GenerationScheduler sched(&engine(), SchedulerOptions{});
  ScheduledGeneration g;
  g.prompt = {5, 6, 7};
  g.options = Greedy(200);
  g.options.eos_token_ids.clear();
  g.options.max_new_tokens = 120;
  auto a = sched.Submit(g);
  ASSERT_TRUE(a.ok());
  bool ran = false;
  absl::Status st = sched.RunExclusive(
      [&] {
        ran = true;
        return absl::OkStatus();
      },
      1, runtime::RequestLifetime{});
  EXPECT_TRUE(st.ok());
  EXPECT_TRUE(ran);
  // A job given up before it starts never runs.
  runtime::RequestLifetime expired;
  expired.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  bool ran_late = false;
  // The worker may still pick it up before the caller notices; either it ran or it was refused.
  absl::Status late = sched.RunExclusive([&] { ran_late = true; return absl::OkStatus(); }, 1, expired);
  if (!late.ok()) {
    EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_FALSE(ran_late);
  }
  sched.Stop();
  Outcome o = Collect(**a);
  if (!o.result.ok()) {
    EXPECT_EQ(o.result.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(sched.Submit(g).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(engine().used_blocks(), 0);
}

}  // namespace
}  // namespace infer
