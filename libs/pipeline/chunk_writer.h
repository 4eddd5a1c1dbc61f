// The compression and upload phases (the compressor and uploader services'
// logic) for one job: hashes each chunk, skips chunks the repository (or
// this job) already has, encodes the rest as blobs and stores them.
// Thread-safe: several workers call Process concurrently.
#ifndef ARCA_LIBS_PIPELINE_CHUNK_WRITER_H_
#define ARCA_LIBS_PIPELINE_CHUNK_WRITER_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/archive/chunk_index.h"
#include "libs/codec/codec.h"
#include "libs/crypto/repository_key.h"
#include "libs/hash/digest.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/store/chunk_store.h"

namespace arca {

struct ChunkWriterStats {
  uint64_t chunks_total = 0;
  uint64_t chunks_new = 0;
  uint64_t bytes_new_raw = 0;
  uint64_t bytes_new_stored = 0;
  uint64_t bytes_deduplicated = 0;
  uint64_t chunks_reused = 0;  // known chunks of the parent snapshot
  uint64_t bytes_reused = 0;
  double hash_seconds = 0;
  double compress_seconds = 0;
  double store_seconds = 0;
};

class ChunkWriter {
 public:
  // `key`: the repository's (null if plaintext): chunk ids are then keyed
  // and blobs sealed (libs/blob/sealed_blob.h). Not owned.
  ChunkWriter(ChunkStore* store, const RepositoryKey* key, Codec codec, int level);

  // Hashes, deduplicates, compresses and stores one chunk and records its
  // digest for the index. Errors carry their phase (compression: 11,
  // upload: 12).
  absl::Status Process(PendingChunk chunk);

  // The index of a stream once every chunk was processed. Internal error if
  // a chunk is missing (a bug).
  absl::StatusOr<ChunkIndex> BuildIndex(v1::StreamKind stream) const;

  ChunkWriterStats stats() const;

 private:
  struct Slot {
    Digest digest;
    uint64_t length = 0;
    bool filled = false;
  };

  ChunkStore* store_;
  const RepositoryKey* key_;
  Codec codec_;
  int level_;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<Digest> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<Slot> slots_[3] ABSL_GUARDED_BY(mu_);  // by StreamKind
  ChunkWriterStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_CHUNK_WRITER_H_
