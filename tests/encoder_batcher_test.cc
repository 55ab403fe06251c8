// The encoder batcher: concurrent requests share forwards yet get exactly what TaskModel's direct
// Embed / Classify give; the queue refuses work over its limits at once; requests that give up
// before they run leave the queue (and exclusive jobs never run); Stop fails what waits.
//
// The worker is held busy by an exclusive job that blocks on a promise (WorkerHold), so tests
// know what waits when; they wait on conditions with bounded timeouts, never on sleeps. Futures of
// requests queued behind a hold are declared before it: destroyed after it, so a failed assertion
// releases the worker before anything waits for those requests.
#include "server/runtime/encoder_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "golden_util.h"
#include "kernels/backend.h"
#include "server/tasks/task_model.h"

namespace infer {
namespace {

using runtime::EncodedInput;
using runtime::EncoderBatcher;
using runtime::EncoderBatcherOptions;
using runtime::RequestLifetime;
using testing::GoldenPath;
using namespace std::chrono_literals;

constexpr auto kTimeout = 30s;  // bound on every wait for a condition (never reached when passing)

// Records what the batcher reports; lets a test wait until a number of requests are waiting.
class CountingObserver : public runtime::SchedulerObserver {
 public:
  void SetQueue(int waiting, int running) override {
    std::lock_guard<std::mutex> l(mu_);
    waiting_ = waiting;
    max_running_ = std::max(max_running_, running);
    cv_.notify_all();
  }
  void ObserveStep(int sequences, int tokens) override {
    std::lock_guard<std::mutex> l(mu_);
    ++steps_;
    step_sequences_ += sequences;
  }
  void ObserveQueueTime(double seconds) override {
    std::lock_guard<std::mutex> l(mu_);
    ++queue_times_;
  }
  void AddRejected(std::string_view reason) override {
    std::lock_guard<std::mutex> l(mu_);
    ++rejected_[std::string(reason)];
  }
  bool WaitForWaiting(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kTimeout, [&] { return waiting_ == n; });
  }
  int steps() { std::lock_guard<std::mutex> l(mu_); return steps_; }
  int step_sequences() { std::lock_guard<std::mutex> l(mu_); return step_sequences_; }
  int queue_times() { std::lock_guard<std::mutex> l(mu_); return queue_times_; }
  int max_running() { std::lock_guard<std::mutex> l(mu_); return max_running_; }
  int waiting() { std::lock_guard<std::mutex> l(mu_); return waiting_; }
  int rejected(const std::string& r) { std::lock_guard<std::mutex> l(mu_); return rejected_[r]; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0, max_running_ = 0, steps_ = 0, step_sequences_ = 0, queue_times_ = 0;
  std::map<std::string, int> rejected_;
};

// Occupies the batcher's worker with an exclusive job until Release() (or destruction, so that a
// failed assertion cannot leave the batcher's Stop waiting forever).
class WorkerHold {
 public:
  explicit WorkerHold(EncoderBatcher& b) {
    result_ = std::async(std::launch::async, [&b, this] {
      return b.RunExclusive(
          [this] {
            started_.set_value();
            release_future_.wait();
            return absl::OkStatus();
          },
          0, RequestLifetime{});
    });
  }
  ~WorkerHold() { Finish().IgnoreError(); }
  bool WaitStarted() { return started_future_.wait_for(kTimeout) == std::future_status::ready; }
  void Release() {
    if (!released_) release_.set_value();
    released_ = true;
  }
  absl::Status Finish() {
    Release();
    return result_.valid() ? result_.get() : absl::OkStatus();
  }

 private:
  std::promise<void> started_, release_;
  std::future<void> started_future_ = started_.get_future();
  std::shared_future<void> release_future_ = release_.get_future().share();
  bool released_ = false;
  std::future<absl::Status> result_;
};

template <typename T>
bool Ready(std::future<T>& f) {
  return f.wait_for(kTimeout) == std::future_status::ready;
}

// An input of n tokens, all inside any of the golden vocabularies.
tasks::TokenizedInput Tokens(int n) {
  tasks::TokenizedInput in;
  in.ids.assign(n, 5);
  return in;
}

// A forward over other rows as well is not bitwise the forward of one input alone: the BLAS picks
// its kernels and blocking by the matrix shape, so sums round differently. TaskModel::Classify
// itself, on the six golden texts together vs each alone, differs by up to 3e-6 on the logits.
// Measured through the batcher over 20 runs: embeddings (unit norm) at most 2.7e-7 relative;
// logits (|logit| up to 4) at most 6.2e-6 absolute, i.e. up to 1.1e-5 relative where logits are
// near 0. Float32 rounding, far below the 1e-4 fidelity bound. Alone in its forward, a request
// gets the direct result's very bits (tested bitwise).
constexpr double kEmbedTolerance = 1e-6;   // relative L2 error of a sentence vector
constexpr double kLogitTolerance = 5e-5;   // largest absolute difference of a logit
constexpr double kProbTolerance = 1e-5;    // largest absolute difference of a probability

class EncoderBatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<tasks::TaskModel> Load(const std::string& name) {
    auto m = tasks::TaskModel::Load(GoldenPath("models/" + name), backend_.get());
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend();
  CountingObserver observer_;
};

TEST_F(EncoderBatcherTest, ConcurrentEmbedsShareForwardsAndMatchDirectEmbed) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  constexpr int kThreads = 16;
  std::vector<std::string> texts;
  for (int i = 0; i < kThreads; ++i) {
    std::string t = "request " + std::to_string(i) + ":";
    for (int w = 0; w <= i; ++w) t += w % 2 ? " free software" : " the license";
    texts.push_back(t);
  }
  // References first: the model is not shared with the batcher's worker while it runs.
  std::vector<std::vector<float>> want;
  for (const std::string& t : texts) {
    auto r = m->Embed({t});
    ASSERT_TRUE(r.ok()) << r.status();
    want.push_back(r->vectors[0]);
  }

  EncoderBatcherOptions opt;
  opt.max_delay = 20ms;
  EncoderBatcher batcher(m->encoder(), opt, &observer_);
  // All 16 requests tokenize on their own threads (PrepareEmbed: the tokenizer shared by all) and
  // queue while the worker is held, so the forwards that follow must merge them.
  const auto embed = [&](int i) -> absl::StatusOr<tasks::EmbedResult> {
    auto plan = m->PrepareEmbed({texts[i]});
    if (!plan.ok()) return plan.status();
    // FinishEmbed does not read the inputs: they move into the batcher.
    auto encoded = batcher.Encode(std::move(plan->inputs), RequestLifetime{});
    if (!encoded.ok()) return encoded.status();
    return m->FinishEmbed(*plan, *encoded);
  };
  std::vector<std::future<absl::StatusOr<tasks::EmbedResult>>> results;
  WorkerHold hold(batcher);
  ASSERT_TRUE(hold.WaitStarted());
  for (int i = 0; i < kThreads; ++i) {
    results.push_back(std::async(std::launch::async, embed, i));
  }
  ASSERT_TRUE(observer_.WaitForWaiting(kThreads));
  ASSERT_TRUE(hold.Finish().ok());
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(Ready(results[i]));
    auto r = results[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->vectors.size(), 1u);
    EXPECT_LE(testing::RelativeError(r->vectors[0], want[i]), kEmbedTolerance) << "request " << i;
  }
  EXPECT_EQ(observer_.step_sequences(), kThreads);
  EXPECT_LT(observer_.steps(), kThreads);  // batching happened
  EXPECT_GT(observer_.max_running(), 1);
  EXPECT_EQ(observer_.queue_times(), kThreads + 1);  // the 16 and the hold

  // The same inputs in the same single forward give Embed's very bits: one post-processing path.
  // (Direct model use beside the batcher goes through RunExclusive, as a service would do it.)
  absl::StatusOr<tasks::EmbedResult> all;
  ASSERT_TRUE(batcher.RunExclusive([&] { return (all = m->Embed(texts)).status(); }, 0, {}).ok());
  auto plan = m->PrepareEmbed(texts);
  ASSERT_TRUE(all.ok() && plan.ok());
  auto encoded = batcher.Encode(plan->inputs, RequestLifetime{});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  auto finished = m->FinishEmbed(*plan, *encoded);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->vectors, all->vectors);
  EXPECT_EQ(finished->token_counts, all->token_counts);
}

TEST_F(EncoderBatcherTest, ClassifyThroughBatcherMatchesDirectClassify) {
  // bert: softmax, sentence pairs; distilbert: multi-label (sigmoid); roberta: byte-level BPE.
  for (const std::string name : {"bert", "distilbert", "roberta"}) {
    SCOPED_TRACE(name);
    auto m = Load(name);
    ASSERT_TRUE(m);
    nlohmann::json meta = testing::ReadGoldenJson("expected/" + name + ".json");
    std::vector<std::string> texts, pairs;
    for (const auto& c : meta["cases"]) {
      texts.push_back(c["text"]);
      pairs.push_back(c.contains("text_pair") ? c["text_pair"].get<std::string>() : "");
    }
    std::vector<tasks::ClassifyResult> want;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto r = m->Classify({texts[i]}, {pairs[i]});
      ASSERT_TRUE(r.ok()) << r.status();
      want.push_back(*r);
    }
    EncoderBatcher batcher(m->encoder(), EncoderBatcherOptions{}, &observer_);
    const auto classify = [&](size_t i) -> absl::StatusOr<tasks::ClassifyResult> {
      auto plan = m->PrepareClassify({texts[i]}, {pairs[i]});
      if (!plan.ok()) return plan.status();
      auto encoded = batcher.Encode(plan->inputs, RequestLifetime{});
      if (!encoded.ok()) return encoded.status();
      return m->FinishClassify(*plan, *encoded);
    };
    // One at a time, each alone in its forward: bitwise what Classify gives.
    for (size_t i = 0; i < texts.size(); ++i) {
      auto r = classify(i);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->labels, want[i].labels);
      EXPECT_EQ(r->token_counts, want[i].token_counts);
      EXPECT_EQ(r->truncated, want[i].truncated);
      ASSERT_EQ(r->scores.size(), 1u);
      EXPECT_EQ(r->scores[0].logits, want[i].scores[0].logits) << i;
      EXPECT_EQ(r->scores[0].probs, want[i].scores[0].probs) << i;
    }
    // All at once, in forwards they share.
    std::vector<std::future<absl::StatusOr<tasks::ClassifyResult>>> got;
    for (size_t i = 0; i < texts.size(); ++i) {
      got.push_back(std::async(std::launch::async, classify, i));
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      ASSERT_TRUE(Ready(got[i]));
      auto r = got[i].get();
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->scores.size(), 1u);
      EXPECT_LE(testing::MaxAbsError(r->scores[0].logits, want[i].scores[0].logits),
                kLogitTolerance) << i;
      EXPECT_LE(testing::MaxAbsError(r->scores[0].probs, want[i].scores[0].probs),
                kProbTolerance) << i;
    }
  }
}

TEST_F(EncoderBatcherTest, FullBatchRunsAtOnceAndLargeRequestIsSplit) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  EncoderBatcherOptions opt;
  opt.max_batch_inputs = 2;
  opt.max_delay = std::chrono::hours(1);  // only a full batch can run
  EncoderBatcher batcher(m->encoder(), opt, &observer_);
  // Two single-input requests fill a batch: the first does not wait out its hour.
  auto a = std::async(std::launch::async,
                      [&] { return batcher.Encode({Tokens(4)}, RequestLifetime{}); });
  ASSERT_TRUE(observer_.WaitForWaiting(1));
  auto b = batcher.Encode({Tokens(6)}, RequestLifetime{});
  ASSERT_TRUE(Ready(a));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(a.get().ok());
  EXPECT_EQ(observer_.steps(), 1);
  EXPECT_EQ(observer_.step_sequences(), 2);
  // One request of five inputs is over the limit: it runs alone, as forwards of 2, 2 and 1, and
  // its outputs stay in order.
  std::vector<tasks::TokenizedInput> five;
  for (int n = 3; n < 8; ++n) five.push_back(Tokens(n));
  auto r = batcher.Encode(five, RequestLifetime{});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u);
  const size_t hidden = m->info().hidden_size;
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*r)[i].states.size(), (i + 3) * hidden);
  EXPECT_EQ(observer_.steps(), 4);
  // Nothing to encode returns at once; a bad input is refused alone, before it queues.
  auto empty = batcher.Encode({}, RequestLifetime{});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  tasks::TokenizedInput bad = Tokens(3);
  bad.ids[1] = m->info().vocab_size;
  EXPECT_EQ(batcher.Encode({bad}, RequestLifetime{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EncoderBatcherTest, QueueLimitsRefuseAtOnceAndAcceptedRequestsComplete) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  EncoderBatcherOptions opt;
  opt.queue.max_waiting_requests = 2;
  opt.queue.max_waiting_tokens = 40;
  EncoderBatcher batcher(m->encoder(), opt, &observer_);
  std::future<absl::StatusOr<std::vector<EncodedInput>>> first, second;
  WorkerHold hold(batcher);
  ASSERT_TRUE(hold.WaitStarted());
  first = std::async(std::launch::async,
                          [&] { return batcher.Encode({Tokens(10)}, RequestLifetime{}); });
  ASSERT_TRUE(observer_.WaitForWaiting(1));
  // 10 waiting + 35 > 40 tokens.
  auto too_long = batcher.Encode({Tokens(20), Tokens(15)}, RequestLifetime{});
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(too_long.status().message().find("max_waiting_tokens"), std::string::npos);
  EXPECT_EQ(observer_.rejected("queue_tokens"), 1);
  second = std::async(std::launch::async,
                           [&] { return batcher.Encode({Tokens(10)}, RequestLifetime{}); });
  ASSERT_TRUE(observer_.WaitForWaiting(2));
  // Two requests wait: a third is one too many, however small.
  auto third = batcher.Encode({Tokens(2)}, RequestLifetime{});
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("max_waiting_requests"), std::string::npos);
  EXPECT_EQ(observer_.rejected("queue_requests"), 1);
  EXPECT_EQ(batcher.RunExclusive([] { return absl::OkStatus(); }, 0, {}).code(),
            absl::StatusCode::kResourceExhausted);  // exclusive jobs count as requests too
  ASSERT_TRUE(hold.Finish().ok());
  ASSERT_TRUE(Ready(first));
  ASSERT_TRUE(Ready(second));
  auto a = first.get(), b = second.get();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->size(), 1u);
  EXPECT_EQ((*b)[0].states.size(), 10u * m->info().hidden_size);
  EXPECT_EQ(observer_.waiting(), 0);
}

TEST_F(EncoderBatcherTest, RequestsThatGiveUpWhileWaitingLeaveTheQueue) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  EncoderBatcherOptions opt;
  opt.queue.max_waiting_tokens = 10;
  EncoderBatcher batcher(m->encoder(), opt, &observer_);
  std::future<absl::StatusOr<std::vector<EncodedInput>>> cancelled, after;
  WorkerHold hold(batcher);
  ASSERT_TRUE(hold.WaitStarted());

  RequestLifetime soon;
  soon.deadline = RequestLifetime::Clock::now() + 50ms;
  auto late = batcher.Encode({Tokens(8)}, soon);  // the worker stays held past the deadline
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(observer_.waiting(), 0);

  std::atomic<bool> gone{false};
  RequestLifetime cancellable;
  cancellable.cancelled = [&] { return gone.load(); };
  cancelled = std::async(std::launch::async,
                              [&] { return batcher.Encode({Tokens(8)}, cancellable); });
  ASSERT_TRUE(observer_.WaitForWaiting(1));
  gone = true;
  ASSERT_TRUE(Ready(cancelled));
  EXPECT_EQ(cancelled.get().status().code(), absl::StatusCode::kCancelled);

  std::atomic<bool> ran{false};
  soon.deadline = RequestLifetime::Clock::now() + 50ms;
  EXPECT_EQ(batcher.RunExclusive([&] { ran = true; return absl::OkStatus(); }, 8, soon).code(),
            absl::StatusCode::kDeadlineExceeded);

  // The abandoned requests' tokens left the count: 8 more fit under the limit of 10.
  after = std::async(std::launch::async,
                          [&] { return batcher.Encode({Tokens(8)}, RequestLifetime{}); });
  ASSERT_TRUE(observer_.WaitForWaiting(1));
  ASSERT_TRUE(hold.Finish().ok());
  ASSERT_TRUE(Ready(after));
  EXPECT_TRUE(after.get().ok());
  // `after` queued behind the abandoned exclusive job, so the worker has passed it: it never ran.
  EXPECT_FALSE(ran.load());
}

TEST_F(EncoderBatcherTest, StopFailsWaitingRequestsAndRefusesNewOnes) {
  auto m = Load("bert-embed");
  ASSERT_TRUE(m);
  EncoderBatcher batcher(m->encoder(), EncoderBatcherOptions{}, &observer_);
  std::future<void> stopped;
  std::vector<std::future<absl::StatusOr<std::vector<EncodedInput>>>> waiting;
  WorkerHold hold(batcher);
  ASSERT_TRUE(hold.WaitStarted());
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::async(std::launch::async,
                                 [&] { return batcher.Encode({Tokens(4)}, RequestLifetime{}); }));
  }
  ASSERT_TRUE(observer_.WaitForWaiting(2));
  // Stop waits for the running job (the hold), but fails the waiting ones at once.
  stopped = std::async(std::launch::async, [&] { batcher.Stop(); });
  for (auto& w : waiting) {
    ASSERT_TRUE(Ready(w));
    EXPECT_EQ(w.get().status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout);  // still joining the worker
  EXPECT_TRUE(hold.Finish().ok());  // the running job was let finish
  ASSERT_TRUE(Ready(stopped));
  EXPECT_EQ(batcher.Encode({Tokens(4)}, RequestLifetime{}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(batcher.RunExclusive([] { return absl::OkStatus(); }, 0, {}).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(observer_.rejected("shutting_down"), 4);
  batcher.Stop();  // idempotent
}

}  // namespace
}  // namespace infer
