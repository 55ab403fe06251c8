#include "server/runtime/generation_scheduler.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/runtime/cpu_compute_thread.h"
#include "server/runtime/decode_setup.h"
#include "server/runtime/decoder.h"
#include "server/runtime/tracked_lm.h"

namespace infer::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct GenerationScheduler::Request {
  uint64_t arrival = 0;
  Clock::time_point arrived;
  ScheduledGeneration spec;
  std::shared_ptr<GenerationStream> stream;
  // lm outlives decoder (declared first, destroyed last): the decoder releases through it.
  std::unique_ptr<TrackedLm> lm;
  std::unique_ptr<Decoder> decoder;
  bool counted_in_queue = true;  // fresh requests count against the queue limits
  bool started = false;          // has been in a step (queue time observed)

  bool Before(const Request& o) const {
    return spec.priority != o.spec.priority ? spec.priority < o.spec.priority
                                            : arrival < o.arrival;
  }
};

struct GenerationScheduler::Job {
  std::function<absl::Status()> fn;
  int64_t tokens = 0;
  bool started = false, done = false, abandoned = false;
  absl::Status status;
};

// One request's share of the next step. complete: the step computes every pending token of the
// request, so its decoder advances afterwards; otherwise it is a prefill chunk.
struct GenerationScheduler::Planned {
  Request* r = nullptr;
  bool complete = false;
  std::vector<ComputeItem> items;
};

GenerationScheduler::GenerationScheduler(LmEngine* engine, const SchedulerOptions& options,
                                         SchedulerObserver* observer)
    : engine_(engine), options_(options), observer_(observer ? observer : NullObserver()) {
  thread_ = std::thread([this] { Loop(); });
}

GenerationScheduler::~GenerationScheduler() { Stop(); }

void GenerationScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status GenerationScheduler::Enqueue(int64_t tokens) {
  if (stopping_) {
    observer_->AddRejected("shutting_down");
    return absl::UnavailableError("the model's scheduler is shutting down");
  }
  if (queued_requests_ + 1 > options_.queue.max_waiting_requests) {
    observer_->AddRejected("queue_requests");
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model's queue is full: ", queued_requests_, " requests are waiting (limit ",
        options_.queue.max_waiting_requests, "); retry later"));
  }
  if (queued_tokens_ + tokens > options_.queue.max_waiting_tokens) {
    observer_->AddRejected("queue_tokens");
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model's queue is full: ", queued_tokens_, " tokens are waiting and this request "
        "adds ", tokens, " (limit ", options_.queue.max_waiting_tokens, "); retry later"));
  }
  ++queued_requests_;
  queued_tokens_ += tokens;
  return absl::OkStatus();
}

void GenerationScheduler::Dequeue(int64_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  --queued_requests_;
  queued_tokens_ -= tokens;
}

absl::StatusOr<std::shared_ptr<GenerationStream>> GenerationScheduler::Submit(
    ScheduledGeneration request) {
  // Validate on the caller's thread: a bad request never waits in the queue. PrepareDecode only
  // reads the model's immutable facts.
  GenerateHooks check;
  check.detokenize = request.detokenize;
  absl::StatusOr<DecodeSetup> setup = PrepareDecode(*engine_, request.prompt, request.options,
                                                    check);
  if (!setup.ok()) return setup.status();

  auto r = std::make_unique<Request>();
  r->arrived = Clock::now();
  r->stream = std::make_shared<GenerationStream>();
  const int64_t tokens = static_cast<int64_t>(request.prompt.size());
  r->spec = std::move(request);
  std::shared_ptr<GenerationStream> stream = r->stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status st = Enqueue(tokens); !st.ok()) return st;
    r->arrival = next_arrival_++;
    inbox_.push_back(std::move(r));
  }
  cv_.notify_all();
  return stream;
}

absl::Status GenerationScheduler::RunExclusive(std::function<absl::Status()> fn, int64_t tokens,
                                               const RequestLifetime& life) {
  auto job = std::make_shared<Job>();
  job->fn = std::move(fn);
  job->tokens = tokens;
  std::unique_lock<std::mutex> lock(mu_);
  if (absl::Status st = Enqueue(tokens); !st.ok()) return st;
  jobs_.push_back(job);
  cv_.notify_all();
  while (!job->done) {
    job_done_.wait_for(lock, std::chrono::milliseconds(5));
    if (job->done || job->started) continue;
    if (absl::Status st = life.Check(); !st.ok()) {
      job->abandoned = true;  // the worker skips it
      return st;
    }
  }
  return job->status;
}

void GenerationScheduler::Loop() {
  while (true) {
    std::vector<std::shared_ptr<Job>> jobs;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] {
        return stopping_ || !inbox_.empty() || !jobs_.empty() || !running_.empty() ||
               !waiting_.empty();
      });
      for (auto& r : inbox_) waiting_.push_back(std::move(r));
      inbox_.clear();
      if (stopping_) {
        for (auto& j : jobs_) {
          j->status = absl::UnavailableError("the server is shutting down");
          j->done = true;
        }
        jobs_.clear();
        // Everything still waiting is ended below; the limits no longer matter.
        queued_requests_ = 0;
        queued_tokens_ = 0;
      } else {
        jobs.assign(jobs_.begin(), jobs_.end());
        jobs_.clear();
      }
    }
    if (!jobs.empty() || stopping_) job_done_.notify_all();
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop = stopping_;
    }
    if (stop) {
      for (auto& r : waiting_) Finish(r.get(), absl::UnavailableError("the server is shutting down"));
      for (auto& r : running_) Finish(r.get(), absl::UnavailableError("the server is shutting down"));
      waiting_.clear();
      running_.clear();
      Publish();
      return;
    }
    for (auto& j : jobs) RunJob(*j);
    Reap();
    Admit();
    if (!running_.empty()) StepOnce();
    Publish();
  }
}

void GenerationScheduler::RunJob(Job& job) {
  Dequeue(job.tokens);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job.abandoned) return;
    job.started = true;
  }
  absl::Status st = RunCompute(options_.shared_cpu_compute, job.fn);
  if (absl::IsResourceExhausted(st) && !running_.empty()) {
    // Running requests hold the blocks the job needs: send them back to the queue and retry.
    while (!running_.empty()) Preempt(running_.back().get());
    st = RunCompute(options_.shared_cpu_compute, job.fn);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job.status = st;
    job.done = true;
  }
  job_done_.notify_all();
}

void GenerationScheduler::Finish(Request* r, absl::StatusOr<GenerationResult> outcome) {
  if (r->counted_in_queue) {
    Dequeue(static_cast<int64_t>(r->spec.prompt.size()));
    r->counted_in_queue = false;
  }
  // Free the blocks before the caller hears of the end, so a client that sees its stream end
  // also sees the pool whole.
  r->decoder.reset();
  r->lm.reset();
  r->stream->Finish(std::move(outcome));
}

void GenerationScheduler::Reap() {
  const Clock::time_point now = Clock::now();
  auto gone = [&](std::unique_ptr<Request>& r) {
    absl::Status st = r->stream->cancelled()
                          ? absl::CancelledError("the client cancelled the request")
                          : r->spec.life.Check(now);
    if (st.ok()) return false;
    Finish(r.get(), st);
    return true;
  };
  std::erase_if(waiting_, gone);
  std::erase_if(running_, gone);
}

absl::Status GenerationScheduler::ExtendPending(Request& r) {
  for (const StepItem& item : r.decoder->pending()) {
    if (absl::Status st = engine_->Extend(item.seq, item.tokens); !st.ok()) return st;
  }
  return absl::OkStatus();
}

void GenerationScheduler::Admit() {
  const int bs = engine_->block_size();
  while (!waiting_.empty() &&
         static_cast<int>(running_.size()) < options_.max_running_requests) {
    auto best = std::min_element(waiting_.begin(), waiting_.end(),
                                 [](const auto& a, const auto& b) { return a->Before(*b); });
    Request& r = **best;
    int tokens = 0;
    if (r.decoder) {
      for (SeqId s : r.lm->live()) tokens += engine_->Uncomputed(s);
    } else {
      tokens = static_cast<int>(r.spec.prompt.size());
    }
    const int need = (tokens + bs - 1) / bs + 1;
    if (!running_.empty()) {
      // Keep a block per running sequence in reserve for their next decode steps.
      int reserve = 0;
      for (const auto& run : running_) reserve += static_cast<int>(run->lm->live().size());
      if (need > engine_->free_blocks() - reserve) break;  // FCFS: nobody overtakes it
    } else if (need - 1 > engine_->total_blocks()) {
      std::unique_ptr<Request> owned = std::move(*best);
      waiting_.erase(best);
      Finish(owned.get(), absl::ResourceExhaustedError(absl::StrCat(
                              "the prompt needs ", need - 1, " KV cache blocks but the pool has ",
                              engine_->total_blocks(), "; raise --kv-cache-mib")));
      continue;
    }
    std::unique_ptr<Request> owned = std::move(*best);
    waiting_.erase(best);
    if (owned->counted_in_queue) {
      Dequeue(static_cast<int64_t>(owned->spec.prompt.size()));
      owned->counted_in_queue = false;
    }
    if (!owned->decoder) {
      owned->lm = std::make_unique<TrackedLm>(*engine_);
      GenerateHooks hooks;
      GenerationStream* stream = owned->stream.get();
      hooks.on_token = [stream](const TokenEvent& ev) { stream->PushToken(ev); };
      hooks.detokenize = owned->spec.detokenize;
      absl::StatusOr<std::unique_ptr<Decoder>> dec =
          MakeDecoder(*owned->lm, owned->spec.prompt, owned->spec.options, hooks);
      if (!dec.ok()) {
        Finish(owned.get(), dec.status());
        continue;
      }
      owned->decoder = std::move(*dec);
      if (absl::Status st = ExtendPending(*owned); !st.ok()) {
        Finish(owned.get(), st);
        continue;
      }
    }
    running_.push_back(std::move(owned));
  }
}

void GenerationScheduler::PlanStep(std::vector<Planned>* plan) {
  std::vector<Request*> order;
  for (auto& r : running_) order.push_back(r.get());
  std::sort(order.begin(), order.end(), [](Request* a, Request* b) { return a->Before(*b); });
  int budget = options_.max_step_tokens;
  auto full_items = [&](Request* r, int* tokens) {
    std::vector<ComputeItem> items;
    *tokens = 0;
    for (const StepItem& p : r->decoder->pending()) {
      const int n = engine_->Uncomputed(p.seq);
      items.push_back(ComputeItem{p.seq, n, true});
      *tokens += n;
    }
    return items;
  };
  auto prefilling = [&](Request* r) {
    for (const StepItem& p : r->decoder->pending()) {
      if (engine_->Uncomputed(p.seq) > 1) return true;
    }
    return false;
  };
  // Decode tokens first: every running sequence's next token before any prompt chunk.
  for (Request* r : order) {
    if (prefilling(r)) continue;
    int tokens = 0;
    std::vector<ComputeItem> items = full_items(r, &tokens);
    if (tokens > budget && !plan->empty()) continue;
    budget -= tokens;
    plan->push_back(Planned{r, true, std::move(items)});
  }
  // Then prompts (and recomputation after preemption), chunked to what the budget leaves.
  for (Request* r : order) {
    if (!prefilling(r)) continue;
    int tokens = 0;
    std::vector<ComputeItem> items = full_items(r, &tokens);
    if (tokens <= budget || plan->empty()) {
      budget -= tokens;
      plan->push_back(Planned{r, true, std::move(items)});
      continue;
    }
    if (budget <= 0) continue;
    // A chunk never reaches an item's last token (or, when the decoder needs hidden states,
    // its own new tokens): those are computed in the step that advances the decoder.
    Planned chunk{r, false, {}};
    for (const StepItem& p : r->decoder->pending()) {
      const int keep = r->decoder->want_hidden() ? static_cast<int>(p.tokens.size()) : 1;
      const int n = std::min(engine_->Uncomputed(p.seq) - keep, budget);
      if (n <= 0) continue;
      chunk.items.push_back(ComputeItem{p.seq, n, false});
      budget -= n;
      if (budget <= 0) break;
    }
    if (!chunk.items.empty()) plan->push_back(std::move(chunk));
  }
}

void GenerationScheduler::Preempt(Request* victim) {
  victim->lm->PreemptAll();
  ++preemptions_;
  auto it = std::find_if(running_.begin(), running_.end(),
                         [victim](const auto& r) { return r.get() == victim; });
  waiting_.push_back(std::move(*it));
  running_.erase(it);
}

bool GenerationScheduler::FitBlocks(std::vector<Planned>* plan) {
  while (true) {
    int need = 0;
    for (const Planned& p : *plan) {
      for (const ComputeItem& it : p.items) need += engine_->BlocksNeeded(it.seq, it.tokens);
    }
    if (need <= engine_->free_blocks()) return !plan->empty();
    // Preempt the lowest-priority, newest running request.
    auto victim_it = std::max_element(running_.begin(), running_.end(),
                                      [](const auto& a, const auto& b) { return a->Before(*b); });
    Request* victim = victim_it->get();
    std::erase_if(*plan, [victim](const Planned& p) { return p.r == victim; });
    if (running_.size() == 1) {
      // Alone and still too big: the pool cannot hold this request at all.
      std::unique_ptr<Request> owned = std::move(*victim_it);
      running_.erase(victim_it);
      Finish(owned.get(), absl::ResourceExhaustedError(absl::StrCat(
                              "the request needs more KV cache blocks than the pool's ",
                              engine_->total_blocks(), "; raise --kv-cache-mib or lower "
                              "max_new_tokens")));
      return false;
    }
    Preempt(victim);
  }
}

void GenerationScheduler::StepOnce() {
  std::vector<Planned> plan;
  PlanStep(&plan);
  if (!FitBlocks(&plan)) return;

  std::vector<ComputeItem> items;
  StepOptions so;
  const Clock::time_point now = Clock::now();
  for (Planned& p : plan) {
    items.insert(items.end(), p.items.begin(), p.items.end());
    if (p.complete && p.r->decoder->want_hidden()) so.want_hidden = true;
    if (!p.r->started) {
      p.r->started = true;
      observer_->ObserveQueueTime(Seconds(now - p.r->arrived));
    }
  }
  ComputeOutput& out = step_out_;
  absl::Status st = RunCompute(options_.shared_cpu_compute,
                                [&] { return engine_->Compute(items, so, &out); });
  if (!st.ok()) {
    std::vector<Request*> failed;
    for (Planned& p : plan) failed.push_back(p.r);
    for (Request* r : failed) Finish(r, st);
    std::erase_if(running_, [&](const auto& r) {
      return std::find(failed.begin(), failed.end(), r.get()) != failed.end();
    });
    return;
  }
  observer_->ObserveStep(static_cast<int>(items.size()), out.computed_tokens);

  const size_t vocab = static_cast<size_t>(engine_->vocab_size());
  const size_t hidden = static_cast<size_t>(engine_->hidden_size());
  size_t logit_row = 0, item_index = 0;
  std::vector<Request*> done;
  std::vector<float> hid;
  for (Planned& p : plan) {
    const size_t first_item = item_index;
    item_index += p.items.size();
    if (!p.complete) continue;
    std::span<const float> logits(out.logits.data() + logit_row * vocab, p.items.size() * vocab);
    logit_row += p.items.size();
    hid.clear();
    if (p.r->decoder->want_hidden()) {
      // The rows of the decoder's own new tokens (not of history recomputed after preemption).
      const auto pending = p.r->decoder->pending();
      for (size_t k = 0; k < pending.size(); ++k) {
        const size_t i = first_item + k;
        const size_t n = pending[k].tokens.size();
        const size_t row = out.row_begin[i] + out.row_count[i] - n;
        hid.insert(hid.end(), out.hidden.begin() + row * hidden,
                   out.hidden.begin() + (row + n) * hidden);
      }
    }
    absl::Status adv = p.r->decoder->Advance(logits, hid);
    if (adv.ok() && !p.r->decoder->finished()) adv = ExtendPending(*p.r);
    if (!adv.ok()) {
      Finish(p.r, adv);
      done.push_back(p.r);
    } else if (p.r->decoder->finished()) {
      Finish(p.r, p.r->decoder->TakeResult());
      done.push_back(p.r);
    }
  }
  std::erase_if(running_, [&](const auto& r) {
    return std::find(done.begin(), done.end(), r.get()) != done.end();
  });
}

void GenerationScheduler::Publish() {
  const PrefixCacheStats& ps = engine_->prefix_stats();
  observer_->AddPrefixCache(ps.queries - reported_prefix_.queries, ps.hits - reported_prefix_.hits);
  reported_prefix_ = ps;
  if (preemptions_ > reported_preemptions_) {
    observer_->AddPreemptions(static_cast<int>(preemptions_ - reported_preemptions_));
    reported_preemptions_ = preemptions_;
  }
  int waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting = static_cast<int>(waiting_.size() + inbox_.size());
  }
  observer_->SetQueue(waiting, static_cast<int>(running_.size()));
  observer_->SetKvBlocks(engine_->used_blocks(), engine_->total_blocks());
}

}  // namespace infer::runtime
