// A ChunkSource decorator that fetches the chunks of one stream ahead of its
// reader, in index order, on background threads: while the reader consumes
// chunk i, chunks i+1 .. i+depth are being fetched (from a remote source,
// where each fetch is a round trip). Memory: at most depth + 1 chunks.
//
// The reader is expected to move forward through the stream. A request for a
// chunk that is not within the window [next, next + depth] is served
// directly by the inner source (no read-ahead); ExpectOffset moves the window
// when the reader is about to jump (e.g. a restore skipping excluded files).
//
// Thread-safety: GetChunk and ExpectOffset may be called from one thread at
// a time (a StreamReader's); the background threads are internal. The index
// and the inner source (which must be thread-safe) must outlive this object.
#ifndef ARCA_LIBS_PIPELINE_READ_AHEAD_CHUNK_SOURCE_H_
#define ARCA_LIBS_PIPELINE_READ_AHEAD_CHUNK_SOURCE_H_

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/stream_reader.h"

namespace arca {

class ReadAheadChunkSource final : public ChunkSource {
 public:
  // depth >= 1 chunks ahead, fetched by `threads` >= 1 threads.
  ReadAheadChunkSource(const ChunkIndex* index, ChunkSource* inner, size_t depth, size_t threads);
  // Waits for the fetches in flight (bounded by the inner source's own
  // deadlines), then joins the threads.
  ~ReadAheadChunkSource() override;

  // The inner source's result for the chunk (fetched ahead when possible).
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override;

  // The next read will be at stream `offset`: start fetching from the chunk
  // holding it. Offsets outside the stream are ignored.
  void ExpectOffset(uint64_t offset);

  // Chunks served from the read-ahead window (for tests and statistics).
  uint64_t hits() const;

 private:
  struct Slot {
    bool started = false;
    bool done = false;
    absl::StatusOr<std::shared_ptr<const std::string>> result = absl::UnknownError("not fetched");
  };

  void Loop();
  void ScheduleFrom(size_t first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ChunkIndex* index_;
  ChunkSource* inner_;
  const size_t depth_;

  mutable absl::Mutex mu_;
  std::map<size_t, Slot> slots_ ABSL_GUARDED_BY(mu_);  // by chunk position
  std::deque<size_t> queue_ ABSL_GUARDED_BY(mu_);      // positions to fetch
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;               // expected position
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_READ_AHEAD_CHUNK_SOURCE_H_
