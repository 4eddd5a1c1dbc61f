// The Chunker service (protos/arca/v1/chunker.proto): drives the data plane
// of one backup or restore job across the other services, with the same
// libraries as the embedded pipeline (libs/pipeline backup.cc / restore.cc).
//
// RunBackup(plan):
//   1. validates the plan (INVALID_ARGUMENT, PHASE_SETUP);
//   2. Uploader.GetConfig (chunker parameters, default codec) and the parent
//      snapshot: plan.parent (NOT_FOUND if unknown) or the newest snapshot of
//      the group Repository::GroupName(host, source) (Uploader.ListSnapshots),
//      unless metadata_change_detection is off;
//   3. Collector.Collect: the events (libs/pipeline/remote/collect_events.h)
//      are applied to a real ArchiveBuilder whose chunks go to a
//      RemoteChunkWriter (hash, dedup, Compressor.Compress, Uploader.PutChunks,
//      replicas and retries: remote_chunk_writer.h);
//   4. both indexes (per stream, by chunk sequence), the manifest (options,
//      statistics, warnings, commands), Uploader.CommitSnapshot;
//   5. StageEvents: progress now and then, each warning, and the result
//      (snapshot id, statistics, exit code 0 or 3 when data is missing).
//   The free-space check of the embedded backup is not done here.
//
// RunRestore(plan): Uploader.GetSnapshot, the indexes decoded, the metadata
// stream read through a StreamReader whose chunks come from the uploaders
// (GetChunks) and are decoded on compressor replicas (Decompress; in this
// process when plan.compressors is empty), read ahead in index order; the
// --include selection and hardlink re-homing of the embedded restore
// (RestoreSelection); entries and file data streamed to Collector.WriteTree.
//
// Errors carry their phase (libs/rpc/status_convert): setup
// (validation, unknown snapshot) PHASE_SETUP; a lost or failing collector
// PHASE_COLLECTION; archive/index errors PHASE_ARCHIVE; no compressor left
// PHASE_COMPRESSION; no uploader left / upload errors PHASE_UPLOAD; commit
// PHASE_COMMIT (set by the uploader) or PHASE_UPLOAD; every restore failure
// PHASE_RESTORE (DATA_LOSS for corruption). CANCELLED when the caller
// cancels: every downstream call is cancelled and no snapshot is committed.
//
// Every client call has a deadline: unary calls call_timeout, the job's
// streams job_timeout (or the caller's deadline when earlier).
//
// Thread-safety: thread-safe; each job runs on its gRPC handler thread plus
// the writer's threads; hashing uses the service's worker pool.
#ifndef ARCA_SERVICES_CHUNKER_CHUNKER_SERVICE_H_
#define ARCA_SERVICES_CHUNKER_CHUNKER_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "libs/metrics/service_metrics.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/remote/call_registry.h"
#include "services/common/client_channel.h"
#include "libs/base/worker_pool.h"

namespace arca::services {

struct ChunkerOptions {
  ClientTlsFlags peer_tls;
  absl::Duration call_timeout = absl::Seconds(60);
  absl::Duration commit_timeout = absl::Minutes(10);
  absl::Duration job_timeout = absl::Hours(24);
  absl::Duration stall_timeout = absl::Seconds(120);
  absl::Duration progress_interval = absl::Milliseconds(500);
  int hash_threads = 0;             // 0 = hardware concurrency
  size_t max_chunks_in_flight = 0;  // 0 = 8 per compressor replica + 16
  size_t restore_read_ahead = 8;    // payload chunks fetched ahead on restore
  // false (--hash-first): hash every chunk here before compression, so the
  // digests never come from a compressor (RemoteChunkWriterOptions).
  bool compress_first = true;
  std::string program = "arca-chunker";
};

// Receives the job's StageEvents; false when the caller is gone.
using StageEventSink = std::function<bool(const v1::StageEvent&)>;

class ChunkerService final : public v1::Chunker::Service {
 public:
  explicit ChunkerService(ChunkerOptions options);

  grpc::Status RunBackup(grpc::ServerContext* context, const v1::BackupPlan* plan,
                         grpc::ServerWriter<v1::StageEvent>* writer) override;
  grpc::Status RunRestore(grpc::ServerContext* context, const v1::RestorePlan* plan,
                          grpc::ServerWriter<v1::StageEvent>* writer) override;
  grpc::Status Chunk(grpc::ServerContext* context,
                     grpc::ServerReaderWriter<v1::ChunkOutput, v1::ChunkInput>* stream) override;

 private:
  ChunkerOptions options_;
  WorkerPool hash_pool_;
};

// The chunker's catalog (arca_chunker_*) on metrics::ProcessRegistry(),
// created on first use (at the latest by the first ChunkerService) and
// shared by every ChunkerService of the process. What counts where:
//   live, in the backup's RemoteChunkWriter (RemoteChunkWriterOptions::
//   metrics; for rates during a job): input_bytes, chunks, new_chunks,
//   new_bytes, deduplicated_bytes, chunks_in_flight;
//   once per successful backup, from its BackupStats: reused_bytes
//   (bytes_reused) and padding_bytes, and phase_duration_seconds for archive
//   (collection_and_archive), upload (the drain) and commit;
//   live, in RunDistributedRestore: restored_bytes (payload bytes sent to WriteTree);
//   RunRestore: phase_duration_seconds{phase="restore"} of a successful one;
//   the RPCs: streams_running (RunBackup, RunRestore) and errors_total of a
//   failed call (its phase; else archive for RunBackup and Chunk, restore for
//   RunRestore).
// So after a successful backup the counter deltas equal the job's
// BackupStats (chunks_total, chunks_new, bytes_new_raw, bytes_deduplicated,
// bytes_reused, padding_bytes); input_bytes is bytes_new_raw +
// bytes_deduplicated.
metrics::ChunkerMetrics& ChunkerServiceMetrics();

// The jobs without the server side of gRPC (they call the other services).
// `calls` cancels them; `deadline` bounds the job's streams.
// RunDistributedBackup is the backup job (libs/pipeline/backup_job.h) over
// the gRPC ports (remote_backup_ports.h). `calls` and `cancel` cancel them
// (cancel them together); `deadline` bounds the job's streams.
absl::Status RunDistributedBackup(const v1::BackupPlan& plan, const ChunkerOptions& options,
                                  WorkerPool* hash_pool, CallRegistry* calls, CancelToken* cancel,
                                  absl::Time deadline, const StageEventSink& events);
absl::Status RunDistributedRestore(const v1::RestorePlan& plan, const ChunkerOptions& options,
                                   CallRegistry* calls, CancelToken* cancel, absl::Time deadline,
                                   const StageEventSink& events);

}  // namespace arca::services

#endif  // ARCA_SERVICES_CHUNKER_CHUNKER_SERVICE_H_
