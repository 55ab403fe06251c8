// The CausalLm one scheduled request's decoder sees: sequences are created, forked and released
// on the shared LmEngine, and recorded here so the scheduler knows which sequences the request
// holds (to preempt them all) and can release any left over. Step is not available: the scheduler
// runs the model for every request at once.
#pragma once

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "server/runtime/lm_engine.h"

namespace infer::runtime {

class TrackedLm final : public CausalLm {
 public:
  explicit TrackedLm(LmEngine& engine) : engine_(engine) {}
  ~TrackedLm() override;  // releases what is still held
  TrackedLm(const TrackedLm&) = delete;
  TrackedLm& operator=(const TrackedLm&) = delete;

  int vocab_size() const override { return engine_.vocab_size(); }
  int hidden_size() const override { return engine_.hidden_size(); }
  int max_positions() const override { return engine_.max_positions(); }
  absl::StatusOr<SeqId> NewSequence() override;
  absl::StatusOr<SeqId> Fork(SeqId src) override;
  void Release(SeqId seq) override;
  int Length(SeqId seq) const override { return engine_.Length(seq); }
  absl::Status Step(std::span<const StepItem>, bool, StepOutput*) override;

  const absl::flat_hash_set<SeqId>& live() const { return live_; }
  void PreemptAll();

 private:
  LmEngine& engine_;
  absl::flat_hash_set<SeqId> live_;
};

}  // namespace infer::runtime
