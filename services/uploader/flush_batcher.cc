#include "services/uploader/flush_batcher.h"

#include <utility>

namespace arca::services {

FlushBatcher::FlushBatcher(ChunkStore* store, FlushBatcherOptions options)
    : store_(store), options_(options), thread_([this] { Loop(); }) {}

FlushBatcher::~FlushBatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void FlushBatcher::AfterPut(uint64_t bytes, bool urgent, Callback done) {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) oldest_ = absl::Now();
  pending_.push_back(std::move(done));
  pending_bytes_ += bytes;
  if (urgent) urgent_ = true;
}

void FlushBatcher::FlushSoon() {
  absl::MutexLock lock(&mu_);
  urgent_ = true;
}

uint64_t FlushBatcher::flushes() const {
  absl::MutexLock lock(&mu_);
  return flushes_;
}

void FlushBatcher::Loop() {
  while (true) {
    std::vector<Callback> batch;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      auto due_now = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || urgent_ || pending_bytes_ >= options_.max_pending_bytes;
      };
      while (true) {
        if (pending_.empty()) {
          if (stopping_) return;
          mu_.Await(absl::Condition(&has_work));
          continue;
        }
        if (due_now()) break;
        // Wait for a trigger, or until the oldest registration is max_delay old.
        if (!mu_.AwaitWithDeadline(absl::Condition(&due_now), oldest_ + options_.max_delay)) {
          break;  // deadline
        }
      }
      batch.swap(pending_);
      pending_bytes_ = 0;
      urgent_ = false;
      ++flushes_;
    }
    const absl::Status status = store_->Flush();
    for (Callback& done : batch) std::move(done)(status);
  }
}

}  // namespace arca::services
