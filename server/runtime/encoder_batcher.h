// Batching for encoder models (Embed, Classify): inputs from many concurrent requests are merged
// into shared forward passes, up to a number of inputs and tokens per forward, waiting at most a
// short delay for company once the first input is waiting. One worker thread owns the model:
// batches and exclusive jobs (zero-shot, explanations) run on it one after another.
//
// Policy: first come, first served, whole requests only. A batch is the oldest waiting request
// and the requests right behind it while they fit the limits (it never reaches past an exclusive
// job); a request larger than the limits is taken alone and run as several forwards. Inputs are
// checked as the model would (tokens, length, vocabulary) before they queue, so a bad request is
// refused alone rather than failing a forward it would share.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/model/encoder_model.h"
#include "server/runtime/queue_limits.h"
#include "server/runtime/request_lifetime.h"
#include "server/runtime/scheduler_observer.h"
#include "server/tasks/encoder_tasks.h"

namespace infer::runtime {

struct EncoderBatcherOptions {
  int max_batch_inputs = 64;          // sequences per forward
  int64_t max_batch_tokens = 8192;    // tokens per forward (a single longer input runs alone)
  // How long a waiting input waits for company, counted from the arrival of the batch's first
  // request; a batch that is full (or has an exclusive job behind it) runs at once.
  std::chrono::microseconds max_delay{2000};
  QueueLimits queue;
  // Compute on the process's shared CPU compute thread (server/runtime/cpu_compute_thread.h):
  // set for models on the CPU backend.
  bool shared_cpu_compute = false;
};

// One input's encoder outputs.
struct EncodedInput {
  std::vector<float> states;        // last hidden states [tokens, hidden]
  std::vector<float> class_logits;  // [num_labels]; empty when the model has no head
};

class EncoderBatcher {
 public:
  EncoderBatcher(model::EncoderModel* model, const EncoderBatcherOptions& options,
                 SchedulerObserver* observer = nullptr);
  ~EncoderBatcher();  // Stop()
  EncoderBatcher(const EncoderBatcher&) = delete;
  EncoderBatcher& operator=(const EncoderBatcher&) = delete;

  // Runs the encoder over `inputs` (one request's), merged into forwards with other requests'
  // inputs; blocks until done; outputs in input order. No inputs: an empty result at once.
  // INVALID_ARGUMENT (naming inputs[i]) for an input the model would refuse; RESOURCE_EXHAUSTED
  // at once when the waiting queue is over its limits; DEADLINE_EXCEEDED / CANCELLED (per
  // life.Check) when the request gives up before its inputs ran; UNAVAILABLE after Stop(). A
  // forward's error is returned to every request in it.
  absl::StatusOr<std::vector<EncodedInput>> Encode(std::vector<tasks::TokenizedInput> inputs,
                                                   const RequestLifetime& life);

  // Runs fn on the worker thread with the model to itself, between batches, and returns its
  // status. Queued like Encode (counted as one request, `tokens` tokens); if the request gives up
  // before fn starts, fn never runs.
  absl::Status RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                            const RequestLifetime& life);

  // Refuses new work (UNAVAILABLE), fails what waits, lets the running forward finish, and joins
  // the thread. Idempotent; concurrent callers all return once the thread has ended. Must not be
  // called from inside a RunExclusive fn (the worker would wait for itself).
  void Stop();

 private:
  struct Job;
  void Loop();
  // Admits job (or refuses it: UNAVAILABLE, RESOURCE_EXHAUSTED) and waits for it to finish or for
  // the request to give up while the job still waits.
  absl::Status Submit(const std::shared_ptr<Job>& job, const RequestLifetime& life);
  // Runs a batch of Encode jobs (already marked running) on the worker thread, without mu_.
  absl::Status RunBatch(const std::vector<std::shared_ptr<Job>>& batch);

  model::EncoderModel* model_;
  EncoderBatcherOptions options_;
  SchedulerObserver* observer_;
  std::mutex mu_;                // guards everything below but thread_
  std::condition_variable cv_;   // wakes the worker: a job arrived, or Stop (callers wait on
                                 // their own job's condition variable)
  std::deque<std::shared_ptr<Job>> waiting_;  // admitted, not started, oldest first
  int64_t waiting_tokens_ = 0;
  int running_ = 0;  // jobs in the forward (or exclusive job) now on the worker
  bool stopping_ = false;
  std::once_flag stop_once_;
  std::thread thread_;
};

}  // namespace infer::runtime
