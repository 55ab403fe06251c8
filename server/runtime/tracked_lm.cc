#include "server/runtime/tracked_lm.h"

namespace infer::runtime {

TrackedLm::~TrackedLm() {
  for (SeqId s : live_) engine_.Release(s);
}

absl::StatusOr<SeqId> TrackedLm::NewSequence() {
  absl::StatusOr<SeqId> s = engine_.NewSequence();
  if (s.ok()) live_.insert(*s);
  return s;
}

absl::StatusOr<SeqId> TrackedLm::Fork(SeqId src) {
  absl::StatusOr<SeqId> s = engine_.Fork(src);
  if (s.ok()) live_.insert(*s);
  return s;
}

void TrackedLm::Release(SeqId seq) {
  if (live_.erase(seq)) engine_.Release(seq);
}

absl::Status TrackedLm::Step(std::span<const StepItem>, bool, StepOutput*) {
  return absl::InternalError("a scheduled decoder must not run the model itself");
}

void TrackedLm::PreemptAll() {
  for (SeqId s : live_) engine_.Preempt(s);
}

}  // namespace infer::runtime
