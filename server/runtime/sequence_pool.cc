#include "server/runtime/sequence_pool.h"

namespace infer::runtime {

SequencePool::~SequencePool() { ReleaseAll(); }

void SequencePool::ReleaseAll() {
  for (SeqId seq : live_) model_.Release(seq);
  live_.clear();
}

absl::StatusOr<SeqId> SequencePool::New() {
  absl::StatusOr<SeqId> seq = model_.NewSequence();
  if (seq.ok()) live_.insert(*seq);
  return seq;
}

absl::StatusOr<SeqId> SequencePool::Fork(SeqId src) {
  absl::StatusOr<SeqId> seq = model_.Fork(src);
  if (seq.ok()) live_.insert(*seq);
  return seq;
}

void SequencePool::Release(SeqId seq) {
  if (live_.erase(seq) > 0) model_.Release(seq);
}

}  // namespace infer::runtime
