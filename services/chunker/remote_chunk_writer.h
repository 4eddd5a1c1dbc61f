// The chunk consumer of the distributed backup: what ChunkWriter
// (libs/pipeline/chunk_writer.h) does in-process, spread over the compressor
// and uploader replicas. For each chunk the ArchiveBuilder emits:
//
//   hash (SHA-256, on a local worker pool) → slot[stream][seq] for the index
//   → deduplicate within the job (first copy wins) → Uploader.HasChunks
//   (batched: whatever waits when the previous call returns, up to has_batch)
//   → new chunks to a Compressor.Compress stream → the returned blob to an
//   Uploader.PutChunks stream → the ack (the chunk is durable) ends it.
//
// Chunks reused from the parent (known) only have their presence checked
// (HasChunks); a missing one is DATA_LOSS (PHASE_ARCHIVE), as in-process.
//
// Encrypted repository (options.key, the id key only): every "SHA-256"
// below is the keyed id ChunkIdOf(chunk, key) and every compress request
// has keyed_id (services/README.md, Encryption).
//
// No peer's bytes are trusted: every digest is the chunker's own SHA-256
// (compress-first overlaps it with the compressor's round trip); a blob whose
// digest is not the chunker's, or that an uploader refuses as DATA_LOSS (it
// does not decode to its digest), fails the job with DATA_LOSS and
// PHASE_COMPRESSION (exit 11) naming the chunk and the compressor.
//
// Replicas: one long-lived bidi stream per compressor replica and
// `streams_per_uploader` per uploader replica, all pulling from a shared
// queue (so a faster replica takes more chunks: load is balanced by demand,
// not strictly round-robin). A stream that fails with a transport error
// (IsReplicaFailure), or has work outstanding and no answer for
// stall_timeout, takes its replica out for the rest of the job; the chunks in
// flight there are queued again at the front, for another replica (chunks are
// idempotent). When no replica of a phase is left, the job fails with
// UNAVAILABLE "no compressor replica left" (PHASE_COMPRESSION) or "no
// uploader replica left" (PHASE_UPLOAD). Errors that are answers about the
// chunk (INVALID_ARGUMENT, DATA_LOSS, RESOURCE_EXHAUSTED ...) fail the job at
// once with that phase.
//
// Memory: at most max_chunks_in_flight chunks (plaintext until compressed,
// then the blob until acked) are held; Consume blocks while the window is
// full — the backpressure that reaches the collector through gRPC flow
// control.
//
// Thread-safety: Consume, Finish and Abort are called by one thread (the
// archive's); the rest runs on internal threads.
#ifndef ARCA_SERVICES_CHUNKER_REMOTE_CHUNK_WRITER_H_
#define ARCA_SERVICES_CHUNKER_REMOTE_CHUNK_WRITER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "arca/v1/compressor.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/worker_pool.h"
#include "libs/codec/codec.h"
#include "libs/crypto/repository_key.h"
#include "libs/hash/digest.h"
#include "libs/metrics/service_metrics.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/backup_ports.h"
#include "libs/pipeline/remote/call_registry.h"
#include "libs/pipeline/remote/replica_set.h"

namespace arca::services {

struct RemoteChunkWriterOptions {
  v1::Codec codec = v1::CODEC_ZSTD;
  int level = 3;
  size_t max_chunks_in_flight = 32;
  size_t per_compressor_in_flight = 8;  // requests outstanding on one stream
  size_t per_uploader_in_flight = 16;   // blobs outstanding on one stream
  size_t streams_per_uploader = 2;
  size_t has_batch = 256;
  absl::Duration call_timeout = absl::Seconds(60);      // HasChunks
  absl::Duration stall_timeout = absl::Seconds(120);    // no answer with work outstanding
  absl::Time stream_deadline = absl::InfiniteFuture();  // of the long-lived streams
  // Compress first: new chunks go to the compressors before they are
  // hashed (caller_names_blob: the compressor does not hash either); the
  // chunker hashes each one on hash_pool while its request is in flight,
  // names the blob with its own digest (NameBlob) and trusts no other: a
  // blob that comes back with another digest fails the job (DATA_LOSS,
  // PHASE_COMPRESSION) and nothing of it is stored. The chunker deduplicates
  // once both are there (within the job; the uploader's ack says whether the
  // repository had it). Costs a needless
  // compression per duplicate, so the writer switches to hash-first for the
  // rest of the job once at least compress_first_probe chunks came back and
  // more than 1/8 of them were duplicates.
  bool compress_first = true;
  size_t compress_first_probe = 32;
  // Live counters (not owned; null: none), updated where stats() is:
  // input_bytes and chunks when a chunk is taken (chunks also for reused
  // ones, so the total equals chunks_total), new_chunks / new_bytes when an
  // uploader acks a chunk it wrote, deduplicated_bytes when a chunk is found
  // already stored (in the job, by HasChunks or by the uploader's ack), and
  // chunks_in_flight for the chunks holding data (the window).
  metrics::ChunkerMetrics* metrics = nullptr;
  // An encrypted repository's key (not owned; only its id key: the chunker
  // gets it from Uploader.GetChunkIdKey): chunk ids are ChunkIdOf(chunk,
  // key) (HMAC-SHA-256) and every compress request has keyed_id. Null: a
  // plaintext repository, ids are SHA-256.
  const RepositoryKey* key = nullptr;
};

// The wire form of a CompressRequest {codec, level, chunk {stream, ref
// {digest, raw_length}, data}} whose data slice is `plaintext` itself (owned
// by the buffer from now on): no copy of the chunk before the socket. Without
// a digest: {caller_names_blob: true, data_crc32c: CRC32C of the plaintext}
// instead of ref.digest (the compressor neither hashes nor checks a digest;
// the chunker hashes the chunk meanwhile and names the blob: NameBlob).
// With keyed_id (an encrypted repository): keyed_id = true and, with a
// digest too, data_crc32c (the compressor cannot check a keyed id).
grpc::ByteBuffer EncodeCompressRequest(v1::Codec codec, int level, v1::StreamKind stream,
                                       const Digest* digest, ByteBuffer plaintext,
                                       bool keyed_id = false);

// The encoded Blob `blob` with ref.digest set to `digest` (other fields
// kept): the slices of `blob` plus a few bytes, no copy of the data.
grpc::ByteBuffer NameBlob(const grpc::ByteBuffer& blob, const Digest& digest);

// What the chunker needs of an encoded Blob it forwards as it is.
struct BlobView {
  v1::ChunkRef ref;
  uint64_t data_bytes = 0;
};
// DataLoss when the bytes are not a Blob with a ref.
absl::StatusOr<BlobView> ReadBlobView(grpc::ByteBuffer* blob);

struct RemoteChunkWriterStats {
  uint64_t chunks_total = 0;
  uint64_t chunks_new = 0;
  uint64_t bytes_new_raw = 0;
  uint64_t bytes_new_stored = 0;
  uint64_t bytes_deduplicated = 0;
  uint64_t chunks_reused = 0;  // known chunks of the parent snapshot
  uint64_t bytes_reused = 0;
  uint64_t chunks_acked = 0;             // new chunks made durable by an uploader
  uint64_t chunks_resent = 0;            // sent again after a replica failed
  uint64_t chunks_compressed_first = 0;  // sent to a compressor before being hashed
  uint64_t duplicates_compressed = 0;    // of those, found already stored or seen
  bool switched_to_hash_first = false;
  double hash_seconds = 0;
};

class RemoteChunkWriter final : public ChunkSink {
 public:
  // compressors, uploaders, calls and hash_pool are not owned and must
  // outlive the writer. Opens the streams (lazily connected).
  RemoteChunkWriter(ReplicaSet* compressors, ReplicaSet* uploaders, CallRegistry* calls,
                    WorkerPool* hash_pool, RemoteChunkWriterOptions options);
  // Aborts (cancels the streams) unless Finish succeeded; joins every thread.
  ~RemoteChunkWriter() override;

  // Takes a chunk; blocks while max_chunks_in_flight are held. Returns the
  // pipeline's first error once it failed (Aborted "pipeline stopped" when
  // the failure is elsewhere: see error()).
  absl::Status Consume(PendingChunk chunk) override;

  // Waits until every chunk is durable (or the first error), then closes
  // the streams. Returns the first error, with its phase.
  absl::Status Finish() override;

  // Stops everything: the first error becomes `why`; every stream is
  // cancelled. Idempotent.
  void Abort(absl::Status why) override;

  // The first error so far (OK if none).
  absl::Status error() const override;

  // The index of a stream once Finish succeeded. Internal error for a gap.
  absl::StatusOr<ChunkIndex> BuildIndex(v1::StreamKind stream) const override;

  RemoteChunkWriterStats stats() const;
  // The part of stats() every chunk sink reports.
  ChunkSinkTotals totals() const override;

 private:
  struct Item;
  struct Lane;
  using ItemPtr = std::shared_ptr<Item>;
  struct Slot {
    Digest digest;
    uint64_t length = 0;
    bool filled = false;
  };

  void StartLanes();
  void Hash(ItemPtr item);
  // Compress-first: encodes the request, queues it for a compressor, then
  // hashes the plaintext while the request is in flight.
  void EncodeUnhashed(ItemPtr item);
  // Compress-first, once both the chunker's hash and the compressor's blob
  // are there: DataLoss (PHASE_COMPRESSION) unless the compressor's digest
  // is the chunker's; else deduplicate and queue the blob for an uploader.
  void JoinCompressFirst(const ItemPtr& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job's error when an uploader refused a blob as DATA_LOSS: names the
  // compressor that made it.
  absl::Status UploaderRefusedBlob(const Lane& lane, const absl::Status& status) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A compress-first chunk turned out to be a duplicate: maybe switch modes.
  void CountCompressedDuplicate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HasLoop();
  void MonitorLoop();
  void CompressSender(Lane* lane);
  void CompressReceiver(Lane* lane);
  void UploadSender(Lane* lane);
  void UploadReceiver(Lane* lane);
  // A lane's stream ended; decides between normal close, replica failure
  // (requeue) and job failure.
  void LaneEnded(Lane* lane, absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Done(const ItemPtr& item, bool held_ticket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountDeduplicated(uint64_t bytes);
  void JoinAll();

  ReplicaSet* const compressors_;
  ReplicaSet* const uploaders_;
  CallRegistry* const calls_;
  WorkerPool* const hash_pool_;
  const RemoteChunkWriterOptions options_;

  mutable absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  size_t tickets_ ABSL_GUARDED_BY(mu_) = 0;      // chunks holding data
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // chunks not done yet
  size_t hashing_ ABSL_GUARDED_BY(mu_) = 0;      // tasks on the hash pool
  bool compress_first_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ItemPtr> has_queue_ ABSL_GUARDED_BY(mu_);
  std::deque<ItemPtr> compress_queue_ ABSL_GUARDED_BY(mu_);
  std::deque<ItemPtr> upload_queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Digest> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<Slot> slots_[3] ABSL_GUARDED_BY(mu_);
  RemoteChunkWriterStats stats_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* has_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // HasChunks in flight
  std::vector<std::unique_ptr<Lane>> lanes_;                     // fixed after StartLanes
  std::vector<std::thread> threads_;
  bool joined_ = false;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_CHUNKER_REMOTE_CHUNK_WRITER_H_
