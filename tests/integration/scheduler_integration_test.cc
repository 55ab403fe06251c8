// The scheduler seen from a client: a burst over the queue limit gets only OK and
// RESOURCE_EXHAUSTED, every accepted request completes and the server's memory stays bounded;
// deadlines and cancellations free their KV blocks (checked through /metrics); concurrent
// requests on a pool small enough to force preemptions give exactly what each gives alone.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "client/infer_client.h"
#include "kernels/backend.h"
#include "server/tasks/task_model.h"
#include "tests/integration/server_process.h"

namespace infer::testing {
namespace {

const char kModel[] = "lm";

double Metric(const ServerProcess& s, const std::string& name, const std::string& extra = "") {
  const std::string labels = "{model=\"" + std::string(kModel) + "\"" + extra + "}";
  return MetricSample(HttpGet(s.metrics_port(), "/metrics"), name + labels);
}

// Polls until the server's KV pool is whole again (the worker frees a gone request's blocks at
// its next step, just after the client hears of the end).
bool WaitForFreePool(const ServerProcess& s) {
  for (int i = 0; i < 200; ++i) {
    if (Metric(s, "infer_kv_cache_blocks_used") == 0 && Metric(s, "infer_requests_running") == 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int64_t RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra) {
  std::vector<std::string> flags = {"--model",
                                    std::string(kModel) + "=" + RepoPath("models/gpt2-en-mini"),
                                    "--log-format", "json"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  std::string error;
  auto s = ServerProcess::Start(flags, &error);
  EXPECT_TRUE(s) << error;
  return s;
}

v1::GenerateRequest Request(std::vector<int32_t> prompt, int max_new, bool ignore_eos = true) {
  v1::GenerateRequest r;
  r.set_model(kModel);
  for (int32_t t : prompt) r.add_prompt_token_ids(t);
  r.set_max_new_tokens(max_new);
  r.set_ignore_eos(ignore_eos);
  r.set_repetition_penalty(1.2);
  return r;
}

struct Streamed {
  grpc::Status status;
  std::vector<int32_t> tokens;
};

Streamed Call(const client::InferenceClient& c, const v1::GenerateRequest& r,
              client::CallOptions call = {}) {
  Streamed s;
  s.status = c.Generate(
      r,
      [&](const v1::GenerateResponse& m) {
        s.tokens.insert(s.tokens.end(), m.token_ids().begin(), m.token_ids().end());
        return true;
      },
      call);
  return s;
}

TEST(SchedulerIntegration, BurstOverTheQueueLimitIsRefusedCleanlyAndMemoryStaysBounded) {
  const int kQueue = 4;
  auto server = StartServer({"--max-queue-requests", std::to_string(kQueue),
                             "--max-running-requests", "2"});
  ASSERT_TRUE(server);
  client::InferenceClient c(server->target());
  ASSERT_TRUE(Call(c, Request({5, 6}, 1)).status.ok());  // connected before the burst
  const int64_t rss_start = RssKib(server->pid());
  int64_t rss_after_first = 0;
  int total_refused = 0;
  for (int round = 0; round < 2; ++round) {
    const int kBurst = 10 * kQueue;
    std::vector<Streamed> results(kBurst);
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};  // all calls leave together: a burst, not a trickle
    for (int i = 0; i < kBurst; ++i) {
      threads.emplace_back([&, i] {
        ++ready;
        while (ready.load() < kBurst) std::this_thread::yield();
        results[i] = Call(c, Request({static_cast<int32_t>(100 + i), 200, 300}, 24));
      });
    }
    for (auto& t : threads) t.join();
    int ok = 0, refused = 0;
    for (const Streamed& r : results) {
      if (r.status.ok()) {
        ++ok;
        EXPECT_EQ(r.tokens.size(), 24u) << "an accepted request did not complete";
      } else {
        EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
            << r.status.error_message();
        EXPECT_NE(r.status.error_message().find("queue is full"), std::string::npos);
        ++refused;
      }
    }
    EXPECT_GT(refused, 0) << "a burst of 10x the queue limit was all accepted";
    EXPECT_GE(ok, kQueue);
    total_refused += refused;
    ASSERT_TRUE(WaitForFreePool(*server));
    if (round == 0) rss_after_first = RssKib(server->pid());
  }
  EXPECT_EQ(Metric(*server, "infer_rejected_requests_total", ",reason=\"queue_requests\""),
            total_refused);
  EXPECT_EQ(Metric(*server, "infer_requests_waiting"), 0);
  // Bounded: the second burst adds (almost) nothing to what the first one left.
  const int64_t rss_end = RssKib(server->pid());
  EXPECT_LT(rss_end - rss_after_first, 16 * 1024) << "start " << rss_start << " KiB, after first "
                                                   << rss_after_first << " KiB, end " << rss_end;
  EXPECT_GT(Metric(*server, "infer_kv_cache_blocks_total"), 0);
}

TEST(SchedulerIntegration, DeadlinesAndCancellationsReturnEveryBlock) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  client::InferenceClient c(server->target());
  // Deadline mid-generation.
  client::CallOptions tight;
  tight.timeout = std::chrono::milliseconds(100);
  // 32 sampled sequences of 120 tokens: far more work than the deadline allows even on a fast
  // machine (one greedy sequence of this small model finishes within it).
  v1::GenerateRequest slow = Request({5, 6, 7, 8}, 120);
  slow.set_do_sample(true);
  slow.set_seed(3);
  slow.set_num_return_sequences(32);
  Streamed late = Call(c, slow, tight);
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Cancelled by the client after three messages, with others running beside it.
  std::thread other([&] { EXPECT_TRUE(Call(c, Request({9, 10, 11}, 40)).status.ok()); });
  int received = 0;
  grpc::Status st = c.Generate(Request({12, 13, 14, 15}, 120),
                               [&](const v1::GenerateResponse&) { return ++received < 3; });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  other.join();
  EXPECT_TRUE(WaitForFreePool(*server)) << "blocks used: "
                                        << Metric(*server, "infer_kv_cache_blocks_used");
  // The pool keeps serving.
  EXPECT_TRUE(Call(c, Request({5, 6}, 4)).status.ok());
  EXPECT_TRUE(WaitForFreePool(*server));
}

TEST(SchedulerIntegration, PreemptionsOnASmallPoolDoNotChangeTokens) {
  // 1 MiB of KV for gpt2-en-mini is 8 blocks of 16 tokens: twelve requests of 70 to 105
  // tokens sent at once cannot all fit, so some are preempted and recomputed.
  auto server = StartServer({"--kv-cache-mib", "1", "--max-step-tokens", "64"});
  ASSERT_TRUE(server);
  client::InferenceClient c(server->target());
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend();
  auto local = tasks::TaskModel::Load(RepoPath("models/gpt2-en-mini"), backend.get());
  ASSERT_TRUE(local.ok()) << local.status();
  const int kN = 12, kNew = 60;
  std::vector<v1::GenerateRequest> reqs;
  std::vector<std::vector<int32_t>> alone;
  for (int i = 0; i < kN; ++i) {
    std::vector<int32_t> prompt;
    for (int k = 0; k < 12 + 3 * i; ++k) prompt.push_back(static_cast<int32_t>(40 + 17 * i + k));
    reqs.push_back(Request(prompt, kNew));
    runtime::GenerationOptions o = (*local)->generation_defaults();
    o.max_new_tokens = kNew;
    o.repetition_penalty = 1.2;
    o.eos_token_ids.clear();  // as ignore_eos
    auto r = (*local)->GenerateFromIds(prompt, o);
    ASSERT_TRUE(r.ok()) << r.status();
    alone.push_back(r->sequences[0].tokens);
  }
  // Connected first, then all requests released together, so they overlap on the server.
  ASSERT_TRUE(Call(c, Request({5, 6}, 1)).status.ok());
  std::vector<Streamed> got(kN);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kN) std::this_thread::yield();
      got[i] = Call(c, reqs[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(got[i].status.ok()) << got[i].status.error_message();
    EXPECT_EQ(got[i].tokens, alone[i]);
  }
  EXPECT_GT(Metric(*server, "infer_preemptions_total"), 0);
  EXPECT_TRUE(WaitForFreePool(*server));
  EXPECT_EQ(Metric(*server, "infer_kv_cache_blocks_total"), 8);
}

TEST(SchedulerIntegration, MetricsDescribeTheScheduler) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  client::InferenceClient c(server->target());
  // Two requests with the same 40-token prompt: the second reuses the first's full blocks.
  std::vector<int32_t> prompt;
  for (int k = 0; k < 40; ++k) prompt.push_back(300 + k);
  ASSERT_TRUE(Call(c, Request(prompt, 4)).status.ok());
  ASSERT_TRUE(Call(c, Request(prompt, 4)).status.ok());
  EXPECT_GE(Metric(*server, "infer_prefix_cache_hits_total"), 2);
  EXPECT_GE(Metric(*server, "infer_prefix_cache_queries_total"), 2);
  const std::string m = HttpGet(server->metrics_port(), "/metrics");
  // Histograms observed at least once; gauges present (0 when idle).
  for (const char* name :
       {"infer_batch_sequences_count", "infer_batch_tokens_count", "infer_queue_time_seconds_count",
        "infer_inter_token_latency_seconds_count", "infer_time_to_first_token_seconds_count"}) {
    EXPECT_GT(MetricSample(m, std::string(name) + "{model=\"lm\"}"), 0) << name << "\n" << m;
  }
  for (const char* name : {"infer_requests_waiting", "infer_requests_running",
                           "infer_preemptions_total", "infer_kv_cache_blocks_used"}) {
    EXPECT_EQ(MetricSample(m, std::string(name) + "{model=\"lm\"}"), 0) << name << "\n" << m;
  }
}

}  // namespace
}  // namespace infer::testing
