// The Uploader service (protos/arca/v1/uploader.proto): owns one repository
// (libs/store Repository + its LocalChunkStore) and serves every RPC of
// uploader.proto. Thin: it validates and converts protos, calls libs/ on a
// worker pool and maps the status.
//
// Encrypted repositories (the uploader holds the master key, --key-file):
// PutChunks gets format 1 blobs named by keyed ids, checks them with the
// key and stores them sealed; GetChunks opens the sealed blobs and sends
// the inner format 1 blobs (keyed_id set); GetChunkIdKey hands the id key
// (not the data key) to the chunker. services/README.md "Encryption".
//
// PutChunks: each new blob is checked before it is stored — ParseBlobHeader
// and, by default, DecodeBlob(data, digest) (CRC32C, decompression,
// SHA-256; BlobCheck) — so a blob that does not decode to its digest is
// DATA_LOSS and never stored. Then
// ChunkStore::Put (idempotent: a chunk already present, or stored
// concurrently by another replica's stream, is not written again). Acks are
// sent in request order and only once the chunk is durable: stored chunks are
// flushed in groups (FlushBatcher: when the client half-closes, when every
// in-flight slot of a stream waits for its ack, when flush_bytes are
// pending, or flush_delay after the oldest unacked chunk).
// An ack's stored_bytes is the blob size written, 0 if already present.
// Per stream at most max_in_flight blobs are being checked, stored or wait
// for their ack; no further blob is read until one is acked (backpressure).
//
// Errors and phases (phase attached with WithPhase, carried over gRPC by
// libs/rpc/status_convert):
//   INVALID_ARGUMENT  malformed requests (digest not 32 bytes, empty blob,
//                     bad index, no host/source, bad group, manifest or
//                     ListSnapshots/Forget labels that are not valid label
//                     syntax, libs/base/labels.h) — no phase;
//   DATA_LOSS         a blob that does not decode to its digest, a corrupt
//                     stored snapshot — no phase;
//   NOT_FOUND         GetChunks: "chunk <hex> is missing from ..." (the first
//                     missing digest); GetSnapshot: unknown id — no phase;
//   FAILED_PRECONDITION  CommitSnapshot: a referenced chunk is missing
//                     (names it), or the snapshot's time is more than
//                     max_clock_skew ahead of the uploader's clock (names
//                     both times and --max-clock-skew) — PHASE_COMMIT;
//   storage failures  (RESOURCE_EXHAUSTED, PERMISSION_DENIED, UNAVAILABLE,
//                     INTERNAL ...) of Has/Put/Flush: PHASE_UPLOAD; of the
//                     snapshot commit: PHASE_COMMIT (both exit 12).
//
// Thread-safety: the service is thread-safe; it owns its worker pool and
// flush thread. The repository must outlive the service.
#ifndef ARCA_SERVICES_UPLOADER_UPLOADER_SERVICE_H_
#define ARCA_SERVICES_UPLOADER_UPLOADER_SERVICE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "libs/base/worker_pool.h"
#include "libs/metrics/service_metrics.h"
#include "libs/pipeline/cancel.h"
#include "libs/store/repository.h"
#include "services/uploader/flush_batcher.h"

namespace arca::services {

// How much of a blob PutChunks checks before storing it.
enum class BlobCheck {
  // Decompresses the blob and checks the SHA-256 of the plaintext against
  // the digest (DecodeBlob): no peer can put bytes into the store under a
  // name they do not hash to (a lying or broken compressor, or anyone able
  // to call PutChunks). Only new chunks are decoded (a chunk already stored
  // is acknowledged without decoding it), on the worker pool, in parallel
  // with the other blobs of the stream and its group flush. The default
  // (services/README.md has its measured cost).
  kFull,
  // Only the header and the payload CRC32C (CheckBlobFrame): catches a blob
  // damaged on its way, but TRUSTS THE COMPRESSOR (and every PutChunks
  // caller) to have named the blob after its content: frame-valid garbage
  // is stored under any digest and found only by `arca verify` or a
  // restore. An explicit opt-out (--verify-blobs=frame) for deployments
  // where the compressor and every caller are trusted.
  kFrame,
};

struct UploaderOptions {
  int threads = 0;                     // worker threads; 0 = hardware concurrency
  size_t max_in_flight = 0;            // per stream; 0 = max(8, 2 × threads)
  uint64_t flush_bytes = 32ull << 20;  // group flush once this much is unacked
  absl::Duration flush_delay = absl::Milliseconds(100);
  BlobCheck blob_check = BlobCheck::kFull;
  // CommitSnapshot refuses a snapshot whose time is more than this ahead of
  // the uploader's clock (--max-clock-skew; commit_time.h).
  absl::Duration max_clock_skew = absl::Minutes(10);
};

class UploaderService final : public v1::Uploader::CallbackService {
 public:
  // `repo` is not owned and must outlive the service.
  UploaderService(Repository* repo, UploaderOptions options);
  ~UploaderService() override;

  grpc::ServerBidiReactor<v1::Blob, v1::PutChunkAck>* PutChunks(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* HasChunks(grpc::CallbackServerContext* context,
                                      const v1::HasChunksRequest* request,
                                      v1::HasChunksResponse* response) override;
  grpc::ServerWriteReactor<v1::Blob>* GetChunks(grpc::CallbackServerContext* context,
                                                const v1::GetChunksRequest* request) override;
  grpc::ServerUnaryReactor* CommitSnapshot(grpc::CallbackServerContext* context,
                                           const v1::CommitSnapshotRequest* request,
                                           v1::CommitSnapshotResponse* response) override;
  grpc::ServerUnaryReactor* ListSnapshots(grpc::CallbackServerContext* context,
                                          const v1::ListSnapshotsRequest* request,
                                          v1::ListSnapshotsResponse* response) override;
  grpc::ServerUnaryReactor* GetSnapshot(grpc::CallbackServerContext* context,
                                        const v1::GetSnapshotRequest* request,
                                        v1::GetSnapshotResponse* response) override;
  grpc::ServerUnaryReactor* GetConfig(grpc::CallbackServerContext* context,
                                      const v1::GetConfigRequest* request,
                                      v1::RepositoryConfig* response) override;
  // The repository's id key for the chunker (encrypted repositories only).
  grpc::ServerUnaryReactor* GetChunkIdKey(grpc::CallbackServerContext* context,
                                          const v1::GetChunkIdKeyRequest* request,
                                          v1::GetChunkIdKeyResponse* response) override;
  // In uploader_verify.cc: RunVerify on the repository, on a thread of its
  // own (not the worker pool); cancelling the call stops the check.
  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* context,
                                   const v1::VerifyRequest* request,
                                   v1::VerifyResponse* response) override;
  grpc::ServerUnaryReactor* Forget(grpc::CallbackServerContext* context,
                                   const v1::ForgetRequest* request,
                                   v1::ForgetResponse* response) override;
  grpc::ServerUnaryReactor* Gc(grpc::CallbackServerContext* context, const v1::GcRequest* request,
                               v1::GcResponse* response) override;
  grpc::ServerWriteReactor<v1::HoldWriteEvent>* HoldWrite(
      grpc::CallbackServerContext* context, const v1::HoldWriteRequest* request) override;
  grpc::ServerUnaryReactor* GetSpace(grpc::CallbackServerContext* context,
                                     const v1::GetSpaceRequest* request,
                                     v1::GetSpaceResponse* response) override;

 private:
  Repository* const repo_;
  WorkerPool pool_;
  size_t max_in_flight_;
  BlobCheck blob_check_;
  absl::Duration max_clock_skew_;
  FlushBatcher batcher_;
};

// The uploader's catalog (arca_uploader_*) on metrics::ProcessRegistry(),
// created on first use (at the latest by the first UploaderService) and
// shared by every UploaderService of the process. The service counts (the
// functions below, without gRPC, do not):
//   PutChunks  a chunk when its ack is sent (it is durable): written_* (new,
//              stored_bytes of the ack) or deduplicated_* (already_present,
//              the blob's size); errors: phase upload (exit 12) unless the
//              status carries another;
//   GetChunks  read_chunks/read_bytes (stored blob bytes); errors: restore;
//   (a stream's errors_total counts its first failure only, once per stream)
//   CommitSnapshot  snapshots_committed; errors: commit;
//   HasChunks  errors: upload;
//   Verify     verify_runs per completed check, verify_failures when it
//              found corruption (exit 8), verify_problems (problems listed);
//              errors (bad request, unknown snapshot, unreadable
//              repository, cancelled): verification, or 130 when cancelled.
//   Both streams count in streams_running and their queued chunks (being
//   checked/stored/read, waiting for the group flush or to be written) in
//   chunks_in_flight. ListSnapshots, GetSnapshot, GetSpace, GetConfig count
//   no errors here (the RPC interceptor counts every call by code).
metrics::UploaderMetrics& UploaderServiceMetrics();

// The logic of the unary RPCs and of one PutChunks blob, without gRPC.
// CheckAndPut checks the blob as `check` says (a chunk already in the store
// is acknowledged without decoding it) and returns the ack; the chunk is
// durable only after a Flush(). DataLoss "blob <hex>: ..." for a blob that
// fails the check; InvalidArgument for a missing digest or empty blob.
// `key` is the repository's key (null: plaintext repository): the blob must
// then have keyed_id (FailedPrecondition otherwise, and for keyed_id in a
// plaintext repository), the full check is DecodeOpenedChunkBlob with the
// key (HMAC id) and the blob is stored sealed (SealBlob, kind chunk, bound
// to its id); the ack's stored_bytes is the sealed size.
absl::StatusOr<v1::PutChunkAck> CheckAndPut(ChunkStore& store, v1::Blob blob, BlobCheck check,
                                            const RepositoryKey* key = nullptr);
// GetChunkIdKey: FailedPrecondition for a plaintext repository.
absl::StatusOr<v1::GetChunkIdKeyResponse> GetChunkIdKey(const Repository& repo);
absl::StatusOr<v1::HasChunksResponse> HasChunks(ChunkStore& store,
                                                const v1::HasChunksRequest& request);
// CommitSnapshot refuses (FailedPrecondition, PHASE_COMMIT, nothing
// written) a snapshot whose time is more than max_clock_skew after `now`.
absl::StatusOr<v1::CommitSnapshotResponse> CommitSnapshot(Repository& repo,
                                                          const v1::CommitSnapshotRequest& request,
                                                          absl::Time now,
                                                          absl::Duration max_clock_skew);
absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(Repository& repo,
                                                        const v1::ListSnapshotsRequest& request);
absl::StatusOr<v1::GetSnapshotResponse> GetSnapshot(Repository& repo,
                                                    const v1::GetSnapshotRequest& request);
// Verify without gRPC (uploader_verify.cc): RunVerify(repo, snapshot,
// cancel, workers). Corruption is OK with exit_code 8 and the problems;
// errors: InvalidArgument (workers outside 0..256), NotFound (unknown
// snapshot), Cancelled, or a repository failure (exit 1 in RunVerify).
absl::StatusOr<v1::VerifyResponse> VerifyRepository(Repository& repo,
                                                    const v1::VerifyRequest& request,
                                                    const CancelToken* cancel);
// statvfs of the repository directory (free = f_bavail, total = f_blocks,
// times f_frsize), its path and the observed compression ratio (1.0 when the
// snapshots cannot be listed). Errors: the statvfs error naming the path.
absl::StatusOr<v1::GetSpaceResponse> GetSpace(Repository& repo);
// The listing record of a manifest.
v1::SnapshotInfo SnapshotInfoOf(const v1::Manifest& manifest);

}  // namespace arca::services

#endif  // ARCA_SERVICES_UPLOADER_UPLOADER_SERVICE_H_
