#include "libs/pipeline/chunk_writer.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/blob/sealed_blob.h"

namespace arca {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ChunkWriter::ChunkWriter(ChunkStore* store, const RepositoryKey* key, Codec codec, int level)
    : store_(store), key_(key), codec_(codec), level_(level) {}

absl::Status ChunkWriter::Process(PendingChunk chunk) {
  if (chunk.known) {
    // Reused from the parent snapshot: it must still be in the store.
    absl::StatusOr<bool> present = store_->Has(chunk.known_digest);
    if (!present.ok()) return WithPhase(present.status(), v1::PHASE_UPLOAD);
    if (!*present) {
      return WithPhase(
          absl::DataLossError(absl::StrCat(
              "chunk ", chunk.known_digest.Hex(),
              " of the parent snapshot is missing from the repository: run `arca verify`, "
              "or back up with --change-detection=data")),
          v1::PHASE_ARCHIVE);
    }
    absl::MutexLock lock(&mu_);
    std::vector<Slot>& slots = slots_[chunk.stream];
    if (slots.size() <= chunk.seq) slots.resize(chunk.seq + 1);
    slots[chunk.seq] = Slot{chunk.known_digest, chunk.known_length, true};
    seen_.insert(chunk.known_digest);
    stats_.chunks_total++;
    stats_.chunks_reused++;
    stats_.bytes_reused += chunk.known_length;
    return absl::OkStatus();
  }
  auto t0 = std::chrono::steady_clock::now();
  Digest digest = ChunkIdOf(chunk.data.span(), key_);
  const uint64_t length = chunk.data.size();
  double hash_s = SecondsSince(t0);

  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Slot>& slots = slots_[chunk.stream];
    if (slots.size() <= chunk.seq) slots.resize(chunk.seq + 1);
    slots[chunk.seq] = Slot{digest, length, true};
    claimed = seen_.insert(digest).second;
    stats_.chunks_total++;
    stats_.hash_seconds += hash_s;
    if (!claimed) stats_.bytes_deduplicated += length;
  }
  if (!claimed) return absl::OkStatus();

  auto t1 = std::chrono::steady_clock::now();
  // A wrong "absent" costs a compression; Put then finds the chunk.
  absl::StatusOr<bool> present = store_->HasCheap(digest);
  if (!present.ok()) return WithPhase(present.status(), v1::PHASE_UPLOAD);
  if (*present) {
    absl::MutexLock lock(&mu_);
    stats_.bytes_deduplicated += length;
    stats_.store_seconds += SecondsSince(t1);
    return absl::OkStatus();
  }

  auto t2 = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> blob = EncodeChunkBlob(chunk.data.span(), digest, codec_, level_, key_);
  if (!blob.ok()) {
    return WithPhase(absl::Status(blob.status().code(),
                                  absl::StrCat("compressing chunk ", digest.Hex(), " (", length,
                                               " bytes) failed: ", blob.status().message())),
                     v1::PHASE_COMPRESSION);
  }
  double compress_s = SecondsSince(t2);
  chunk.data = ByteBuffer();  // release the plaintext before the write

  auto t3 = std::chrono::steady_clock::now();
  absl::StatusOr<bool> written = store_->Put(digest, *blob);
  if (!written.ok()) return WithPhase(written.status(), v1::PHASE_UPLOAD);
  absl::MutexLock lock(&mu_);
  stats_.compress_seconds += compress_s;
  stats_.store_seconds += SecondsSince(t3) + (t2 - t1).count() / 1e9;
  if (*written) {
    stats_.chunks_new++;
    stats_.bytes_new_raw += length;
    stats_.bytes_new_stored += blob->size();
  } else {
    stats_.bytes_deduplicated += length;
  }
  return absl::OkStatus();
}

absl::StatusOr<ChunkIndex> ChunkWriter::BuildIndex(v1::StreamKind stream) const {
  absl::MutexLock lock(&mu_);
  ChunkIndex index;
  const std::vector<Slot>& slots = slots_[stream];
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].filled) {
      return absl::InternalError(
          absl::StrCat("chunk ", i, " of stream ", stream, " was never processed"));
    }
    index.Append(slots[i].digest, slots[i].length);
  }
  return index;
}

ChunkWriterStats ChunkWriter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace arca
