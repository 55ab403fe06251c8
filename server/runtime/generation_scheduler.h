// Continuous (iteration-level) batching for one causal model. A worker thread owns the LmEngine
// and, at every step, runs one batch made of every running request's next tokens plus prefill
// work of newly admitted ones, chunked under a token budget so a long prompt cannot stall
// everyone's next token. New requests join at the next step; finished ones leave at once.
//
//   - Order: lower `priority` first (vLLM's convention), then arrival (FCFS).
//   - Memory: KV blocks come from the engine's paged pool, shared across requests by the prefix
//     cache. When a step needs more blocks than are free, running requests are preempted (lowest
//     priority, then newest): their blocks go back, they return to the waiting queue, and later
//     recompute their history. Nothing is dropped.
//   - Backpressure: the waiting queue is bounded by requests and tokens; over it, Submit refuses
//     at once with RESOURCE_EXHAUSTED.
//   - Lifetimes: a cancelled stream or a passed deadline ends the request at the next step (in the
//     queue too) and its blocks return to the pool.
//   - Exclusive jobs (zero-shot scoring, explanations) run on the worker between steps.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/decoding_types.h"
#include "server/runtime/generation_options.h"
#include "server/runtime/generation_stream.h"
#include "server/runtime/lm_engine.h"
#include "server/runtime/queue_limits.h"
#include "server/runtime/request_lifetime.h"
#include "server/runtime/scheduler_observer.h"

namespace infer::runtime {

struct SchedulerOptions {
  int max_running_requests = 64;  // requests decoding together (each may hold several sequences)
  int max_step_tokens = 512;      // tokens one model step computes, decode tokens first
  QueueLimits queue;
  // Compute on the process's shared CPU compute thread (server/runtime/cpu_compute_thread.h):
  // set for models on the CPU backend.
  bool shared_cpu_compute = false;
};

struct ScheduledGeneration {
  std::vector<int32_t> prompt;
  GenerationOptions options;
  int priority = 0;        // lower runs first; ties by arrival
  RequestLifetime life;    // its deadline is honoured; cancel through the stream
  Detokenizer detokenize;  // for stop strings
};

class GenerationScheduler {
 public:
  GenerationScheduler(LmEngine* engine, const SchedulerOptions& options,
                      SchedulerObserver* observer = nullptr);
  ~GenerationScheduler();  // Stop()
  GenerationScheduler(const GenerationScheduler&) = delete;
  GenerationScheduler& operator=(const GenerationScheduler&) = delete;

  // Checks the request (INVALID_ARGUMENT as the engine's PrepareDecode says) and queues it.
  // RESOURCE_EXHAUSTED at once when the waiting queue is over a limit, UNAVAILABLE after Stop().
  absl::StatusOr<std::shared_ptr<GenerationStream>> Submit(ScheduledGeneration request);

  // Runs fn on the worker between steps, with the engine to itself. Queued like a request (one
  // request, `tokens` tokens). If the caller gives up before fn starts, fn never runs. If fn fails
  // with RESOURCE_EXHAUSTED while requests hold blocks, they are preempted and fn runs once more.
  absl::Status RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                            const RequestLifetime& life);

  // Refuses new work, ends waiting and running requests with UNAVAILABLE, joins the worker.
  void Stop();

 private:
  struct Request;
  struct Job;
  struct Planned;

  void Loop();
  void RunJob(Job& job);
  void Reap();
  void Admit();
  void StepOnce();
  void PlanStep(std::vector<Planned>* plan);
  bool FitBlocks(std::vector<Planned>* plan);
  void Preempt(Request* r);
  void Finish(Request* r, absl::StatusOr<GenerationResult> outcome);
  absl::Status ExtendPending(Request& r);
  void Publish();
  // Queue accounting for the limits, under mu_: Enqueue refuses (and counts the rejection) or
  // counts the request in; Dequeue takes it out once it runs or ends.
  absl::Status Enqueue(int64_t tokens);
  void Dequeue(int64_t tokens);

  LmEngine* engine_;
  SchedulerOptions options_;
  SchedulerObserver* observer_;

  // Shared with callers.
  mutable std::mutex mu_;
  std::condition_variable cv_;       // wakes the worker
  std::condition_variable job_done_; // wakes RunExclusive callers
  std::vector<std::unique_ptr<Request>> inbox_;
  std::deque<std::shared_ptr<Job>> jobs_;
  int queued_requests_ = 0;          // submitted, not yet admitted (limits)
  int64_t queued_tokens_ = 0;
  bool stopping_ = false;
  uint64_t next_arrival_ = 0;

  // Worker only.
  std::vector<std::unique_ptr<Request>> waiting_;
  std::vector<std::unique_ptr<Request>> running_;
  int64_t preemptions_ = 0, reported_preemptions_ = 0;
  ComputeOutput step_out_;  // kept across steps: LmEngine::Compute swaps its buffers with it
  PrefixCacheStats reported_prefix_;
  std::thread thread_;
};

}  // namespace infer::runtime
