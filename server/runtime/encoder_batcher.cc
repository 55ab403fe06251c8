#include "server/runtime/encoder_batcher.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/runtime/cpu_compute_thread.h"

namespace infer::runtime {
namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting caller polls RequestLifetime::Check: `cancelled` is a probe, not an event,
// so the wait is cut into slices (and ends early at the deadline).
constexpr std::chrono::milliseconds kPollSlice{5};

int64_t CountTokens(const std::vector<tasks::TokenizedInput>& inputs) {
  int64_t n = 0;
  for (const tasks::TokenizedInput& in : inputs) n += static_cast<int64_t>(in.ids.size());
  return n;
}

// The checks the model's Forward makes on each input, made before queuing so that one bad request
// is refused alone instead of failing the forward it would share with others.
absl::Status ValidateInputs(const model::EncoderModel& m,
                            const std::vector<tasks::TokenizedInput>& inputs) {
  const int vocab = m.info().vocab_size;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const tasks::TokenizedInput& in = inputs[i];
    if (in.ids.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "] has no tokens"));
    }
    if (static_cast<int64_t>(in.ids.size()) > m.max_tokens()) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "]: ", in.ids.size(),
                                                     " tokens exceed the model's maximum of ",
                                                     m.max_tokens()));
    }
    if (!in.type_ids.empty() && in.type_ids.size() != in.ids.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[", i, "]: token type ids and token ids differ in length"));
    }
    for (int32_t id : in.ids) {
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "]: token id ", id,
                                                       " is outside the vocabulary [0, ", vocab,
                                                       ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

// One request's work. Fields other than `inputs` and `outputs` are guarded by the batcher's mu_;
// `inputs` is read and `outputs` written only by the worker once state is kRunning, and `outputs`
// is read by the caller only after it saw kDone under mu_.
struct EncoderBatcher::Job {
  enum class State { kWaiting, kRunning, kDone };
  std::vector<tasks::TokenizedInput> inputs;  // Encode jobs
  std::function<absl::Status()> fn;           // exclusive jobs (set: run alone)
  int64_t tokens = 0;
  Clock::time_point arrival;
  State state = State::kWaiting;
  absl::Status status;
  std::vector<EncodedInput> outputs;
  std::condition_variable done;  // signalled when state becomes kDone
};

EncoderBatcher::EncoderBatcher(model::EncoderModel* model, const EncoderBatcherOptions& options,
                               SchedulerObserver* observer)
    : model_(model), options_(options), observer_(observer ? observer : NullObserver()) {
  // Non-positive limits would never admit an input to a forward; one per forward is the floor.
  options_.max_batch_inputs = std::max(options_.max_batch_inputs, 1);
  options_.max_batch_tokens = std::max<int64_t>(options_.max_batch_tokens, 1);
  thread_ = std::thread([this] { Loop(); });
}

EncoderBatcher::~EncoderBatcher() { Stop(); }

absl::StatusOr<std::vector<EncodedInput>> EncoderBatcher::Encode(
    std::vector<tasks::TokenizedInput> inputs, const RequestLifetime& life) {
  if (inputs.empty()) {
    // Nothing to run: no queue slot, no forward (but still refused after Stop, like the rest).
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the encoder batcher is shutting down");
    return std::vector<EncodedInput>{};
  }
  if (absl::Status s = ValidateInputs(*model_, inputs); !s.ok()) return s;
  auto job = std::make_shared<Job>();
  job->tokens = CountTokens(inputs);
  job->inputs = std::move(inputs);
  if (absl::Status s = Submit(job, life); !s.ok()) return s;
  return std::move(job->outputs);
}

absl::Status EncoderBatcher::RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                                          const RequestLifetime& life) {
  auto job = std::make_shared<Job>();
  job->fn = std::move(fn);
  if (!job->fn) job->fn = [] { return absl::OkStatus(); };  // a set fn is what marks it exclusive
  job->tokens = std::max<int64_t>(tokens, 0);
  return Submit(job, life);
}

absl::Status EncoderBatcher::Submit(const std::shared_ptr<Job>& job,
                                    const RequestLifetime& life) {
  // A request already past its deadline or cancelled is not worth queuing. (life.Check runs a
  // caller-supplied probe: never under mu_.)
  absl::Status alive = life.Check();
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    observer_->AddRejected("shutting_down");
    return absl::UnavailableError("the encoder batcher is shutting down");
  }
  if (!alive.ok()) return alive;
  const QueueLimits& q = options_.queue;
  if (static_cast<int64_t>(waiting_.size()) + 1 > q.max_waiting_requests) {
    observer_->AddRejected("queue_requests");
    return absl::ResourceExhaustedError(absl::StrCat(
        "the encoder queue is full: ", waiting_.size(),
        " requests are waiting (max_waiting_requests = ", q.max_waiting_requests, ")"));
  }
  if (waiting_tokens_ + job->tokens > q.max_waiting_tokens) {
    observer_->AddRejected("queue_tokens");
    return absl::ResourceExhaustedError(absl::StrCat(
        "the encoder queue is full: ", waiting_tokens_, " tokens are waiting and this request has ",
        job->tokens, " (max_waiting_tokens = ", q.max_waiting_tokens, ")"));
  }
  job->arrival = Clock::now();
  waiting_.push_back(job);
  waiting_tokens_ += job->tokens;
  observer_->SetQueue(static_cast<int>(waiting_.size()), running_);
  cv_.notify_one();

  const auto done = [&] { return job->state == Job::State::kDone; };
  for (;;) {
    if (done()) return job->status;
    if (job->state == Job::State::kRunning) {
      // Started: wait for the end. A forward is short and its result is ready to use.
      job->done.wait(lock, done);
      continue;
    }
    // Still waiting: poll the request's lifetime.
    lock.unlock();
    absl::Status s = life.Check();
    lock.lock();
    if (!s.ok() && job->state == Job::State::kWaiting) {
      // Gave up before starting: leave the queue so the worker never sees the job.
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), job));
      waiting_tokens_ -= job->tokens;
      observer_->SetQueue(static_cast<int>(waiting_.size()), running_);
      return s;
    }
    // Wake at the next poll or at the deadline, whichever is first.
    job->done.wait_until(lock, std::min(Clock::now() + kPollSlice, life.deadline), done);
  }
}

void EncoderBatcher::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (const std::shared_ptr<Job>& job : waiting_) {
        job->state = Job::State::kDone;
        job->status = absl::UnavailableError("the encoder batcher is shutting down");
        job->done.notify_all();
        observer_->AddRejected("shutting_down");
      }
      waiting_.clear();
      waiting_tokens_ = 0;
      observer_->SetQueue(0, running_);
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  });
}

void EncoderBatcher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (stopping_) return;  // Stop has failed whatever waited

    // Take the oldest job alone if it is exclusive; else the run of Encode jobs behind it, whole
    // jobs in arrival order, while they fit the per-batch limits. The first job is always taken:
    // one larger than the limits runs alone, as several forwards (see RunBatch).
    size_t take = 1;
    if (!waiting_.front()->fn) {
      int64_t inputs = static_cast<int64_t>(waiting_.front()->inputs.size());
      int64_t tokens = waiting_.front()->tokens;
      bool full = inputs >= options_.max_batch_inputs || tokens >= options_.max_batch_tokens;
      for (; !full && take < waiting_.size(); ++take) {
        const Job& next = *waiting_[take];
        const int64_t next_inputs = static_cast<int64_t>(next.inputs.size());
        // An exclusive job waits behind this batch: nothing can join it past that job.
        if (next.fn || inputs + next_inputs > options_.max_batch_inputs ||
            tokens + next.tokens > options_.max_batch_tokens) {
          full = true;
          break;
        }
        inputs += next_inputs;
        tokens += next.tokens;
        full = inputs >= options_.max_batch_inputs || tokens >= options_.max_batch_tokens;
      }
      // Room left: wait for company until the first job has waited max_delay. New jobs, callers
      // giving up and Stop all wake us, and the batch is planned again from the queue's state.
      const Clock::time_point ready = waiting_.front()->arrival + options_.max_delay;
      if (!full && Clock::now() < ready) {
        cv_.wait_until(lock, ready);
        continue;
      }
    }

    std::vector<std::shared_ptr<Job>> batch(waiting_.begin(), waiting_.begin() + take);
    waiting_.erase(waiting_.begin(), waiting_.begin() + take);
    const Clock::time_point start = Clock::now();
    for (const std::shared_ptr<Job>& job : batch) {
      job->state = Job::State::kRunning;
      waiting_tokens_ -= job->tokens;
      observer_->ObserveQueueTime(std::chrono::duration<double>(start - job->arrival).count());
    }
    running_ = static_cast<int>(batch.size());
    observer_->SetQueue(static_cast<int>(waiting_.size()), running_);
    lock.unlock();

    absl::Status status;
    // An exception must not escape the thread (std::terminate) nor leave callers waiting forever.
    try {
      status = RunCompute(options_.shared_cpu_compute, [&] {
        return batch.front()->fn ? batch.front()->fn() : RunBatch(batch);
      });
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("encoder worker: ", e.what()));
    }

    lock.lock();
    for (const std::shared_ptr<Job>& job : batch) {
      job->status = status;
      if (!status.ok()) job->outputs.clear();
      job->state = Job::State::kDone;
      job->done.notify_all();
    }
    running_ = 0;
    observer_->SetQueue(static_cast<int>(waiting_.size()), running_);
  }
}

absl::Status EncoderBatcher::RunBatch(const std::vector<std::shared_ptr<Job>>& batch) {
  // Concatenate the jobs' inputs (moved: the jobs no longer need them) and remember where each
  // input's result goes.
  std::vector<tasks::TokenizedInput> all;
  std::vector<EncodedInput*> dest;
  for (const std::shared_ptr<Job>& job : batch) {
    job->outputs.resize(job->inputs.size());
    for (size_t i = 0; i < job->inputs.size(); ++i) {
      all.push_back(std::move(job->inputs[i]));
      dest.push_back(&job->outputs[i]);
    }
    job->inputs.clear();
  }
  // Cut into forwards of at most max_batch_inputs inputs and max_batch_tokens tokens (at least one
  // input each), so that RunEncoder, given the same token limit, makes exactly one forward per
  // call and ObserveStep counts real forwards. Only a job larger than the limits, taken alone by
  // Loop, needs more than one.
  for (size_t begin = 0; begin < all.size();) {
    size_t end = begin;
    int64_t tokens = 0;
    do {
      tokens += static_cast<int64_t>(all[end].ids.size());
      ++end;
    } while (end < all.size() && static_cast<int64_t>(end - begin) < options_.max_batch_inputs &&
             tokens + static_cast<int64_t>(all[end].ids.size()) <= options_.max_batch_tokens);
    absl::Status s = tasks::RunEncoder(
        *model_, std::span<const tasks::TokenizedInput>(all).subspan(begin, end - begin),
        [&](size_t i, std::span<const float> states, std::span<const float> logits) {
          EncodedInput& out = *dest[begin + i];
          out.states.assign(states.begin(), states.end());
          out.class_logits.assign(logits.begin(), logits.end());
        },
        options_.max_batch_tokens);
    if (!s.ok()) return s;
    observer_->ObserveStep(static_cast<int>(end - begin), static_cast<int>(tokens));
    begin = end;
  }
  return absl::OkStatus();
}

}  // namespace infer::runtime
