#include "server/runtime/generation_stream.h"

namespace infer::runtime {

bool GenerationStream::Next(std::vector<StreamEvent>* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return false;
  while (!events_.empty()) {
    out->push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return true;
}

bool GenerationStream::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

void GenerationStream::PushToken(const TokenEvent& ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    events_.push_back(StreamEvent{std::chrono::steady_clock::now(), ev, std::nullopt});
  }
  cv_.notify_one();
}

void GenerationStream::Finish(absl::StatusOr<GenerationResult> outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    events_.push_back(StreamEvent{std::chrono::steady_clock::now(), std::nullopt,
                                  std::move(outcome)});
  }
  cv_.notify_one();
}

}  // namespace infer::runtime
