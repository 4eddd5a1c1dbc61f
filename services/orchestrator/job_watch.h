// Watchers of one job (WatchJob): each a bounded queue of JobEvents, filled
// by the job's runner, drained by one reader.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_WATCH_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_WATCH_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "arca/v1/orchestrator.pb.h"

namespace arca::services {

// The events waiting for one watcher. Guarded by the mutex of the job table
// the job is in (JobManager's); shared by the JobWatch and the job's record.
struct WatchQueue {
  std::deque<v1::JobEvent> queue;
  std::optional<v1::Job> final_job;  // set when the job ends
  uint64_t final_sequence = 0;       // the final event's sequence
  bool final_returned = false;
  uint64_t dropped = 0;  // events a full queue did not take
};

// Appends `event` to every queue of `watchers` that holds fewer than `limit`
// events. A full queue keeps its length: a Progress replaces a Progress at
// its end, anything else is dropped (counted in `dropped`). The caller holds
// the mutex guarding the queues.
void PublishToWatchers(const std::vector<std::shared_ptr<WatchQueue>>& watchers,
                       const v1::JobEvent& event, size_t limit);

// One WatchJob subscription. Events: the job's recent events first (the
// last kRecentJobEvents, progress coalesced, those after the watcher's
// after_sequence; only the final Job when it has already ended), then live
// Progress and Warning events, and last the final Job. Every event carries
// its sequence number. At most OrchestratorOptions::watch_queue events wait
// per watcher: when a slow watcher's queue is full, a newer Progress
// replaces the queued one and further warnings are dropped (the final Job
// still lists the warnings kept).
// Not thread-safe itself (one reader); must not outlive its JobManager.
class JobWatch {
 public:
  // `mu` guards `queue` and outlives this watch; the destructor calls
  // `unsubscribe(queue)` (without holding `mu`) so the job stops filling it.
  JobWatch(absl::Mutex* mu, std::shared_ptr<WatchQueue> queue,
           std::function<void(WatchQueue*)> unsubscribe)
      : mu_(mu), queue_(std::move(queue)), unsubscribe_(std::move(unsubscribe)) {}
  ~JobWatch();
  JobWatch(const JobWatch&) = delete;
  JobWatch& operator=(const JobWatch&) = delete;

  // The next event, waiting up to `timeout`; nullopt on timeout or after
  // the final event was returned (then finished() is true).
  std::optional<v1::JobEvent> Next(absl::Duration timeout);
  bool finished() const { return finished_; }

 private:
  absl::Mutex* const mu_;
  const std::shared_ptr<WatchQueue> queue_;
  const std::function<void(WatchQueue*)> unsubscribe_;
  bool finished_ = false;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_WATCH_H_
