// A fixed set of threads running submitted tasks in FIFO order: where the
// services do their blocking or CPU-heavy work (hashing, compression, disk
// I/O), so that gRPC reactions never block.
//
// The task queue itself is unbounded; callers bound their own work (each
// stream reactor keeps at most `max_in_flight` tasks queued or running, see
// services/common/work_stream_reactor.h), which bounds the queue by streams ×
// max_in_flight.
//
// Thread-safety: Submit may be called from any thread, including from a task.
#ifndef ARCA_LIBS_BASE_WORKER_POOL_H_
#define ARCA_LIBS_BASE_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace arca {

class WorkerPool {
 public:
  // threads <= 0 means std::thread::hardware_concurrency() (at least 1).
  explicit WorkerPool(int threads);
  // Runs every task already submitted, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(absl::AnyInvocable<void() &&> task);

  int threads() const { return static_cast<int>(threads_.size()); }
  // Tasks queued, not yet started (for metrics and tests).
  size_t queued() const;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace arca

#endif  // ARCA_LIBS_BASE_WORKER_POOL_H_
