// FaultInjectionChunkStore: see chunk_store.h.
#include <utility>

#include "libs/store/chunk_store.h"

namespace arca {

FaultInjectionChunkStore::FaultInjectionChunkStore(ChunkStore* base) : base_(base) {}

void FaultInjectionChunkStore::FailPutsAfter(int n, absl::Status status) {
  absl::MutexLock l(&mu_);
  fail_puts_after_ = n < 0 ? 0 : n;
  put_status_ = std::move(status);
}

void FaultInjectionChunkStore::FailGet(const Digest& digest, absl::Status status) {
  absl::MutexLock l(&mu_);
  get_faults_[digest] = std::move(status);
}

void FaultInjectionChunkStore::FailFlush(absl::Status status) {
  absl::MutexLock l(&mu_);
  flush_status_ = std::move(status);
}

void FaultInjectionChunkStore::FailHas(absl::Status status) {
  absl::MutexLock l(&mu_);
  has_status_ = std::move(status);
}

void FaultInjectionChunkStore::ClearFaults() {
  absl::MutexLock l(&mu_);
  fail_puts_after_ = -1;
  put_status_ = absl::OkStatus();
  get_faults_.clear();
  flush_status_ = absl::OkStatus();
  has_status_ = absl::OkStatus();
}

uint64_t FaultInjectionChunkStore::puts() const {
  absl::MutexLock l(&mu_);
  return puts_;
}

uint64_t FaultInjectionChunkStore::gets() const {
  absl::MutexLock l(&mu_);
  return gets_;
}

uint64_t FaultInjectionChunkStore::flushes() const {
  absl::MutexLock l(&mu_);
  return flushes_;
}

absl::StatusOr<bool> FaultInjectionChunkStore::Has(const Digest& digest) {
  {
    absl::MutexLock l(&mu_);
    if (!has_status_.ok()) return has_status_;
  }
  return base_->Has(digest);
}

absl::StatusOr<bool> FaultInjectionChunkStore::HasCheap(const Digest& digest) {
  {
    absl::MutexLock l(&mu_);
    if (!has_status_.ok()) return has_status_;
  }
  return base_->HasCheap(digest);
}

absl::StatusOr<bool> FaultInjectionChunkStore::Put(const Digest& digest, std::string_view blob) {
  {
    absl::MutexLock l(&mu_);
    ++puts_;
    if (fail_puts_after_ >= 0 && puts_ > static_cast<uint64_t>(fail_puts_after_) &&
        !put_status_.ok()) {
      return put_status_;
    }
  }
  return base_->Put(digest, blob);
}

absl::StatusOr<std::string> FaultInjectionChunkStore::Get(const Digest& digest) {
  {
    absl::MutexLock l(&mu_);
    ++gets_;
    auto it = get_faults_.find(digest);
    if (it != get_faults_.end() && !it->second.ok()) return it->second;
  }
  return base_->Get(digest);
}

absl::Status FaultInjectionChunkStore::Flush() {
  {
    absl::MutexLock l(&mu_);
    ++flushes_;
    if (!flush_status_.ok()) return flush_status_;
  }
  return base_->Flush();
}

absl::Status FaultInjectionChunkStore::ForEach(
    const std::function<absl::Status(const Digest&, uint64_t)>& fn) {
  return base_->ForEach(fn);
}

absl::Status FaultInjectionChunkStore::Remove(const Digest& digest) {
  return base_->Remove(digest);
}

absl::StatusOr<std::string> FaultInjectionChunkStore::MoveAside(const Digest& digest) {
  return base_->MoveAside(digest);
}

}  // namespace arca
