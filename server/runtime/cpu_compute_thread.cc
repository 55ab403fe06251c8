#include "server/runtime/cpu_compute_thread.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace infer::runtime {
namespace {

thread_local bool on_compute_thread = false;

struct Task {
  const std::function<absl::Status()>* fn = nullptr;
  absl::Status status;
  std::exception_ptr error;
  bool done = false;
};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { Loop(); }) { thread_.detach(); }

  absl::Status Run(const std::function<absl::Status()>& fn) {
    Task task;
    task.fn = &fn;
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(&task);
    work_.notify_one();
    done_.wait(lock, [&] { return task.done; });
    if (task.error) std::rethrow_exception(task.error);
    return task.status;
  }

 private:
  void Loop() {
    on_compute_thread = true;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_.wait(lock, [this] { return !queue_.empty(); });
      Task* task = queue_.front();
      queue_.pop_front();
      lock.unlock();
      try {
        task->status = (*task->fn)();
      } catch (...) {
        task->error = std::current_exception();
      }
      lock.lock();
      task->done = true;
      done_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_, done_;
  std::deque<Task*> queue_;
  std::thread thread_;
};

}  // namespace

absl::Status RunOnCpuComputeThread(const std::function<absl::Status()>& fn) {
  if (on_compute_thread) return fn();
  // Never destroyed: workers may still hand it work while static objects are torn down at exit,
  // and the detached thread needs nothing but this object.
  static ComputeThread* const shared = new ComputeThread();
  return shared->Run(fn);
}

bool OnCpuComputeThread() { return on_compute_thread; }

}  // namespace infer::runtime
