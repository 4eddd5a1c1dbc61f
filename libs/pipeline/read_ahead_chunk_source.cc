#include "libs/pipeline/read_ahead_chunk_source.h"

#include <algorithm>

namespace arca {

ReadAheadChunkSource::ReadAheadChunkSource(const ChunkIndex* index, ChunkSource* inner,
                                           size_t depth, size_t threads)
    : index_(index), inner_(inner), depth_(std::max<size_t>(depth, 1)) {
  threads = std::max<size_t>(threads, 1);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ReadAheadChunkSource::~ReadAheadChunkSource() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    queue_.clear();
  }
  for (std::thread& t : threads_) t.join();
}

void ReadAheadChunkSource::Loop() {
  while (true) {
    size_t pos;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ReadAheadChunkSource* s)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->stop_ || !s->queue_.empty(); },
          this));
      if (stop_) return;
      pos = queue_.front();
      queue_.pop_front();
      auto it = slots_.find(pos);
      if (it == slots_.end() || it->second.started) continue;  // dropped meanwhile
      it->second.started = true;
    }
    absl::StatusOr<std::shared_ptr<const std::string>> r =
        inner_->GetChunk(index_->entries()[pos].digest, index_->ChunkLength(pos));
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(pos);
    if (it != slots_.end()) {
      it->second.result = std::move(r);
      it->second.done = true;
    }
  }
}

void ReadAheadChunkSource::ScheduleFrom(size_t first) {
  // Drop what lies before the window (results of fetches in flight for
  // those are discarded when they arrive).
  slots_.erase(slots_.begin(), slots_.lower_bound(first));
  const size_t end = std::min(first + depth_ + 1, index_->size());
  for (size_t p = first; p < end; ++p) {
    if (slots_.emplace(p, Slot{}).second) queue_.push_back(p);
  }
}

void ReadAheadChunkSource::ExpectOffset(uint64_t offset) {
  if (offset >= index_->stream_length()) return;
  absl::StatusOr<ChunkRange> r = index_->Find(offset, 1);
  if (!r.ok()) return;
  absl::MutexLock lock(&mu_);
  if (r->first >= next_ && r->first <= next_ + depth_) return;  // already in the window
  next_ = r->first;
  ScheduleFrom(next_);
}

absl::StatusOr<std::shared_ptr<const std::string>> ReadAheadChunkSource::GetChunk(
    const Digest& digest, uint64_t expected_length) {
  size_t pos = 0;
  {
    absl::MutexLock lock(&mu_);
    const size_t end = std::min(next_ + depth_ + 1, index_->size());
    bool found = false;
    for (size_t p = next_; p < end; ++p) {
      if (index_->entries()[p].digest == digest && index_->ChunkLength(p) == expected_length) {
        pos = p;
        found = true;
        break;
      }
    }
    if (found) {
      next_ = pos + 1;
      ScheduleFrom(pos);
      // pos itself: fetched by a thread, or by this one if none took it yet.
      Slot& slot = slots_[pos];
      if (!slot.started) {
        slot.started = true;
        mu_.Unlock();
        absl::StatusOr<std::shared_ptr<const std::string>> r =
            inner_->GetChunk(digest, expected_length);
        mu_.Lock();
        slots_.erase(pos);
        return r;
      }
      ++hits_;
      std::pair<ReadAheadChunkSource*, size_t> arg(this, pos);
      mu_.Await(absl::Condition(
          +[](std::pair<ReadAheadChunkSource*, size_t>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            auto it = a->first->slots_.find(a->second);
            return it == a->first->slots_.end() || it->second.done;
          },
          &arg));
      auto it = slots_.find(pos);
      if (it != slots_.end()) {
        absl::StatusOr<std::shared_ptr<const std::string>> r = std::move(it->second.result);
        slots_.erase(it);
        return r;
      }
    }
  }
  return inner_->GetChunk(digest, expected_length);
}

uint64_t ReadAheadChunkSource::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

}  // namespace arca
