// ChunkSource over the distributed pipeline: fetches a chunk's blob from an
// uploader replica (Uploader.GetChunks) and decodes it either on a
// compressor replica (Compressor.Decompress) or in this process
// (libs/blob DecodeBlob). Either way the plaintext is checked against its
// digest (CRC32C, SHA-256) and its length against the index: a compressor's
// Decompress answer is hashed again here (no peer is trusted with the
// content, issue 10).
//
// Used by the collector (the parent snapshot's metadata stream, change
// detection) and by the chunker (restores).
//
// Encrypted repositories (services/README.md, Encryption): the uploader
// opens each sealed blob (its GCM tag binds the chunk id) and sends the
// inner format 1 blob with keyed_id. With the repository's id key
// (SetKey: the chunker) the plaintext is checked against the keyed id
// (ChunkIdOf) here, also after a compressor's Decompress (which checks only
// frame, CRC32C and length for keyed blobs). Without a key (the collector,
// which holds none) a keyed blob is checked for frame, CRC32C, decompression
// and length only: the id was checked by the uploader, which the collector
// trusts for the snapshot's indexes anyway.
//
// Thread-safety: thread-safe (each call is independent).
#ifndef ARCA_LIBS_PIPELINE_REMOTE_REMOTE_CHUNK_SOURCE_H_
#define ARCA_LIBS_PIPELINE_REMOTE_REMOTE_CHUNK_SOURCE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arca/v1/compressor.pb.h"
#include "libs/archive/stream_reader.h"
#include "libs/crypto/repository_key.h"
#include "libs/pipeline/remote/call_registry.h"
#include "libs/pipeline/remote/replica_set.h"

namespace arca {

struct RemoteChunkSourceOptions {
  absl::Duration call_timeout = absl::Seconds(120);  // per GetChunks / Decompress call
};

class RemoteChunkSource final : public ChunkSource {
 public:
  // `uploaders` (required) and `compressors` (null: decode locally) are not
  // owned and must outlive the source; `calls` (may be null) registers every
  // call so that the job can cancel them.
  RemoteChunkSource(ReplicaSet* uploaders, ReplicaSet* compressors, CallRegistry* calls,
                    RemoteChunkSourceOptions options = {});

  // Errors:
  // - DataLoss "chunk <hex> is missing from the repository ..." (the uploader
  //   said NOT_FOUND), "blob <hex>: ..." (corrupt), "chunk <hex> holds n
  //   bytes but the index says m", "chunk <hex>: the compressor's
  //   Decompress answer did not match ..." (PHASE_VERIFICATION attached);
  // - Unavailable "no uploader/compressor replica left (...)" when every
  //   replica failed (with PHASE_UPLOAD / PHASE_COMPRESSION attached);
  // - Cancelled when `calls` was cancelled;
  // - other errors of the services as they sent them.
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override;

  // The repository's key (may hold only the id key; not owned; null: none).
  // Call before the first GetChunk.
  void SetKey(const RepositoryKey* key) { key_ = key; }

  // The stored blob of a chunk (as in the repository; for an encrypted one
  // the opened inner blob, keyed_id set), from an uploader.
  absl::StatusOr<v1::Blob> FetchBlob(const Digest& digest);

  uint64_t blobs_fetched() const { return blobs_fetched_.load(); }
  uint64_t blob_bytes() const { return blob_bytes_.load(); }

 private:
  absl::StatusOr<std::string> DecodeRemote(v1::Blob blob, const Digest& digest);
  absl::Status Stopped() const;

  ReplicaSet* uploaders_;
  ReplicaSet* compressors_;
  CallRegistry* calls_;
  RemoteChunkSourceOptions options_;
  const RepositoryKey* key_ = nullptr;
  std::atomic<uint64_t> blobs_fetched_{0};
  std::atomic<uint64_t> blob_bytes_{0};
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_REMOTE_CHUNK_SOURCE_H_
