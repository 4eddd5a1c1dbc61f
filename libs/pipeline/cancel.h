// Cooperative cancellation for long library work (a SIGINT, or later the
// orchestrator's CancelJob). Thread-safe.
#ifndef ARCA_LIBS_PIPELINE_CANCEL_H_
#define ARCA_LIBS_PIPELINE_CANCEL_H_

#include <atomic>

#include "absl/status/status.h"

namespace arca {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Cancelled "<what> cancelled" when cancelled, else OK.
  absl::Status Check(const char* what) const {
    return cancelled() ? absl::CancelledError(std::string(what) + " cancelled") : absl::OkStatus();
  }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_CANCEL_H_
