// Turns a polled cancellation flag (a gRPC server call's IsCancelled()) into
// an action: a thread checks `is_cancelled` every `period` and calls
// `on_cancel` once when it returns true. Used by the synchronous service
// handlers, whose blocking work cannot wait on the call itself.
//
// Thread-safety: the callbacks run on the watcher's thread; the destructor
// stops and joins it (on_cancel is never called after the destructor).
#ifndef ARCA_LIBS_PIPELINE_REMOTE_CANCEL_WATCHER_H_
#define ARCA_LIBS_PIPELINE_REMOTE_CANCEL_WATCHER_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace arca {

class CancelWatcher {
 public:
  CancelWatcher(std::function<bool()> is_cancelled, std::function<void()> on_cancel,
                absl::Duration period = absl::Milliseconds(50))
      : is_cancelled_(std::move(is_cancelled)), on_cancel_(std::move(on_cancel)) {
    thread_ = std::thread([this, period] {
      absl::MutexLock lock(&mu_);
      while (!stop_) {
        if (is_cancelled_()) {
          on_cancel_();
          return;
        }
        mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
      }
    });
  }
  ~CancelWatcher() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  CancelWatcher(const CancelWatcher&) = delete;
  CancelWatcher& operator=(const CancelWatcher&) = delete;

 private:
  std::function<bool()> is_cancelled_;
  std::function<void()> on_cancel_;
  absl::Mutex mu_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_CANCEL_WATCHER_H_
