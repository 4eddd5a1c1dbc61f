// Group commit for a ChunkStore: makes Puts durable in batches, so that the
// uploader can acknowledge a chunk only once it is durable without one
// Flush() (two syncfs) per chunk.
//
// A caller whose Put has returned registers a callback with AfterPut. One
// background thread calls ChunkStore::Flush() — which makes every Put that
// returned before the call durable — for all registered callbacks together,
// and then runs each callback with that Flush's status. A flush starts when
// the pending bytes reach max_pending_bytes, when a caller asks for it
// (urgent AfterPut or FlushSoon: a client half-closed and waits for its last
// acks), or max_delay after the oldest pending registration, whichever comes
// first. So an ack waits at most about max_delay plus one Flush.
//
// Thread-safety: thread-safe. Callbacks run on the batcher's thread and must
// not block (they queue an ack on a stream).
#ifndef ARCA_SERVICES_UPLOADER_FLUSH_BATCHER_H_
#define ARCA_SERVICES_UPLOADER_FLUSH_BATCHER_H_

#include <cstdint>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/store/chunk_store.h"

namespace arca::services {

struct FlushBatcherOptions {
  uint64_t max_pending_bytes = 32ull << 20;
  absl::Duration max_delay = absl::Milliseconds(100);
};

class FlushBatcher {
 public:
  // `store` is not owned and must outlive the batcher.
  FlushBatcher(ChunkStore* store, FlushBatcherOptions options);
  // Flushes what is pending, runs its callbacks, stops the thread.
  ~FlushBatcher();
  FlushBatcher(const FlushBatcher&) = delete;
  FlushBatcher& operator=(const FlushBatcher&) = delete;

  using Callback = absl::AnyInvocable<void(absl::Status) &&>;

  // Call after a Put of `bytes` returned: `done` runs after a Flush() that
  // started after this call, with its status (OK = durable).
  void AfterPut(uint64_t bytes, bool urgent, Callback done);

  // The next flush starts now (or, if nothing is pending, as soon as the next
  // AfterPut arrives).
  void FlushSoon();

  // Flush() calls made so far.
  uint64_t flushes() const;

 private:
  void Loop();

  ChunkStore* const store_;
  const FlushBatcherOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Callback> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time oldest_ ABSL_GUARDED_BY(mu_);
  bool urgent_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_UPLOADER_FLUSH_BATCHER_H_
