// The shared CPU compute thread: every caller's work runs on one and the same thread (so the
// process keeps one OpenMP pool), nested calls run inline instead of deadlocking, statuses and
// exceptions come back to the caller, and callers on many threads are all served.
#include "server/runtime/cpu_compute_thread.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace infer::runtime {
namespace {

TEST(CpuComputeThread, EveryCallerRunsOnTheSameThread) {
  std::mutex mu;
  std::set<std::thread::id> ran_on;
  std::atomic<int> calls = 0;
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        absl::Status st = RunOnCpuComputeThread([&] {
          EXPECT_TRUE(OnCpuComputeThread());
          std::lock_guard<std::mutex> lock(mu);
          ran_on.insert(std::this_thread::get_id());
          ++calls;
          return absl::OkStatus();
        });
        EXPECT_TRUE(st.ok());
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(calls.load(), 300);
  ASSERT_EQ(ran_on.size(), 1u);
  EXPECT_NE(*ran_on.begin(), std::this_thread::get_id());
  EXPECT_FALSE(OnCpuComputeThread());
}

TEST(CpuComputeThread, NestedCallsRunInlineAndStatusesReturn) {
  absl::Status st = RunOnCpuComputeThread([] {
    const std::thread::id outer = std::this_thread::get_id();
    return RunOnCpuComputeThread([outer] {
      EXPECT_EQ(std::this_thread::get_id(), outer);
      return absl::InvalidArgumentError("inner");
    });
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "inner");
}

TEST(CpuComputeThread, ExceptionsReachTheCallerAndTheThreadGoesOn) {
  EXPECT_THROW(RunOnCpuComputeThread([]() -> absl::Status { throw std::runtime_error("boom"); }),
               std::runtime_error);
  EXPECT_TRUE(RunOnCpuComputeThread([] { return absl::OkStatus(); }).ok());
}

TEST(CpuComputeThread, RunComputeUsesTheSharedThreadOnlyWhenAsked) {
  const std::thread::id here = std::this_thread::get_id();
  std::thread::id ran_on;
  auto record = [&] {
    ran_on = std::this_thread::get_id();
    return absl::OkStatus();
  };
  ASSERT_TRUE(RunCompute(false, record).ok());
  EXPECT_EQ(ran_on, here);
  ASSERT_TRUE(RunCompute(true, record).ok());
  EXPECT_NE(ran_on, here);
}

int TeamSize() {
  int team = 0;
#pragma omp parallel
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  return team;
}

TEST(CpuComputeThread, OpenMpRegionsRunWithTheFullTeam) {
  int team = 0;
  ASSERT_TRUE(RunOnCpuComputeThread([&] {
                team = TeamSize();
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(team, omp_get_max_threads());
}

}  // namespace
}  // namespace infer::runtime
