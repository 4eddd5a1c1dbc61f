#include "libs/pipeline/parallel_file_write.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"

namespace arca {
namespace {

struct Piece {
  uint64_t begin = 0;  // stream offsets
  uint64_t end = 0;
};

// [offset, offset + length) cut at chunk boundaries into pieces of whole
// chunks of about `piece_bytes`.
absl::StatusOr<std::vector<Piece>> Pieces(const ChunkIndex& index, uint64_t offset,
                                          uint64_t length, uint64_t piece_bytes) {
  absl::StatusOr<ChunkRange> range = index.Find(offset, length);
  if (!range.ok()) return absl::DataLossError(std::string(range.status().message()));
  std::vector<Piece> out;
  const uint64_t end = offset + length;
  uint64_t begin = offset;
  for (size_t i = range->first; i <= range->last && !range->empty; ++i) {
    const uint64_t chunk_end = std::min(index.entries()[i].end_offset, end);
    if (chunk_end - begin >= piece_bytes || chunk_end == end) {
      out.push_back({begin, chunk_end});
      begin = chunk_end;
    }
  }
  return out;
}

// What the workers share.
struct Shared {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  // Lowest damaged stream offset so far (end of the file: none).
  uint64_t damaged_at ABSL_GUARDED_BY(mu);
  absl::Status damage ABSL_GUARDED_BY(mu);
  absl::Status error ABSL_GUARDED_BY(mu);
};

void Work(const ParallelFileWrite& w, const std::vector<Piece>& pieces, uint64_t offset,
          Shared* shared) {
  StreamReader reader(w.payload_index, w.chunks, 2);
  std::vector<uint8_t> buf(1u << 20);
  while (true) {
    const size_t i = shared->next.fetch_add(1);
    if (i >= pieces.size()) return;
    uint64_t pos = pieces[i].begin;
    uint64_t stop = pieces[i].end;
    {
      absl::MutexLock lock(&shared->mu);
      if (!shared->error.ok()) return;
      stop = std::min(stop, shared->damaged_at);
    }
    while (pos < stop) {
      if (w.cancel != nullptr && w.cancel->cancelled()) {
        absl::MutexLock lock(&shared->mu);
        if (shared->error.ok()) shared->error = w.cancel->Check("restore");
        return;
      }
      const size_t want = static_cast<size_t>(std::min<uint64_t>(stop - pos, buf.size()));
      absl::StatusOr<size_t> n = reader.ReadAt(pos, std::span<uint8_t>(buf.data(), want));
      if (!n.ok() || *n == 0) {
        absl::Status why = !n.ok() ? n.status()
                                   : absl::DataLossError(absl::StrCat(
                                         "the payload stream ends early at offset ", pos));
        absl::MutexLock lock(&shared->mu);
        if (!absl::IsDataLoss(why)) {
          if (shared->error.ok()) shared->error = why;
          return;
        }
        if (pos < shared->damaged_at) {
          shared->damaged_at = pos;
          shared->damage = why;
        }
        break;  // this piece ends here; later pieces stop at damaged_at
      }
      if (absl::Status st = w.target->WriteDataAt(pos - offset, std::span<const uint8_t>(
                                                                    buf.data(), *n));
          !st.ok()) {
        absl::MutexLock lock(&shared->mu);
        if (shared->error.ok()) shared->error = st;
        return;
      }
      if (w.progress != nullptr) w.progress->AddBytes(*n);
      pos += *n;
      absl::MutexLock lock(&shared->mu);
      if (!shared->error.ok()) return;
      stop = std::min(stop, shared->damaged_at);
    }
  }
}

}  // namespace

absl::StatusOr<uint64_t> WriteFileInParallel(const ParallelFileWrite& w, uint64_t offset,
                                             uint64_t length, absl::Status* damage) {
  absl::StatusOr<std::vector<Piece>> pieces =
      Pieces(*w.payload_index, offset, length, std::max<uint64_t>(w.piece_bytes, 1));
  if (!pieces.ok()) {
    *damage = pieces.status();
    return 0;
  }
  Shared shared;
  {
    absl::MutexLock lock(&shared.mu);
    shared.damaged_at = offset + length;
  }
  const int workers =
      static_cast<int>(std::min<size_t>(std::max(w.workers, 1), pieces->size()));
  absl::BlockingCounter done(workers);
  for (int i = 0; i < workers; ++i) {
    w.pool->Submit([&w, &pieces, offset, &shared, &done] {
      Work(w, *pieces, offset, &shared);
      done.DecrementCount();
    });
  }
  done.Wait();
  absl::MutexLock lock(&shared.mu);
  if (!shared.error.ok()) return shared.error;
  if (!shared.damage.ok()) *damage = shared.damage;
  return shared.damaged_at - offset;
}

}  // namespace arca
