#include "services/orchestrator/job_watch.h"

#include <utility>

namespace arca::services {

void PublishToWatchers(const std::vector<std::shared_ptr<WatchQueue>>& watchers,
                       const v1::JobEvent& event, size_t limit) {
  for (const std::shared_ptr<WatchQueue>& w : watchers) {
    if (w->queue.size() < limit) {
      w->queue.push_back(event);
    } else if (event.has_progress() && w->queue.back().has_progress()) {
      w->queue.back() = event;  // the newest progress replaces the queued one
    } else {
      ++w->dropped;
    }
  }
}

JobWatch::~JobWatch() { unsubscribe_(queue_.get()); }

std::optional<v1::JobEvent> JobWatch::Next(absl::Duration timeout) {
  if (finished_) return std::nullopt;
  absl::MutexLock lock(mu_);
  WatchQueue* s = queue_.get();
  auto ready = [s] { return !s->queue.empty() || s->final_job.has_value(); };
  mu_->AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (!s->queue.empty()) {
    v1::JobEvent e = std::move(s->queue.front());
    s->queue.pop_front();
    return e;
  }
  if (s->final_job) {
    v1::JobEvent e;
    *e.mutable_final() = *s->final_job;
    e.set_sequence(s->final_sequence);
    s->final_returned = true;
    finished_ = true;
    return e;
  }
  return std::nullopt;
}

}  // namespace arca::services
