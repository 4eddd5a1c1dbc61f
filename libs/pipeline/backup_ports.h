// The ports of the backup job (backup_job.h): the three things a backup
// needs from the world, each a small interface with a local implementation
// (local_backup_ports.h: this process, a local repository) and a gRPC one
// (services/chunker/remote_backup_ports.h: a collector, compressor and
// uploader replicas). The job never knows which mode it runs in.
//
//   EntrySource        where entries and file data come from (collection)
//   ChunkDestination   where chunks go (compression + upload)
//   SnapshotRepository the repository a snapshot is committed to
//
// Errors: every method returns statuses that already carry their phase
// (libs/base/phase_status.h) and a message naming the path, address or
// snapshot; the job passes them on. Exit codes follow from the status alone
// (ExitCodeOf): e.g. a repository that cannot be used before anything is
// written is FAILED_PRECONDITION with PHASE_SETUP (exit 4).
//
// Thread-safety: the job calls each port from one thread; a ChunkSink's
// Consume, Finish and Abort come from that thread too.
#ifndef ARCA_LIBS_PIPELINE_BACKUP_PORTS_H_
#define ARCA_LIBS_PIPELINE_BACKUP_PORTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/archive/chunk_index.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/archive_sink.h"
#include "libs/pipeline/progress.h"

namespace arca {

// A snapshot as the job needs it to pick a parent.
struct SnapshotSummary {
  std::string id;
  uint64_t bytes_collected = 0;
  int64_t time_unix_ns = 0;
};

// Free space where new chunks will land.
struct SpaceReport {
  uint64_t free_bytes = 0;
  double compression_ratio = 1.0;  // observed so far (stored / raw); 1 when unknown
  std::string label;               // the repository (and replica) for messages
};

class SnapshotRepository {
 public:
  virtual ~SnapshotRepository() = default;

  virtual absl::StatusOr<v1::RepositoryConfig> Config() = 0;
  // The snapshot `id` (an explicit parent). NOT_FOUND for an unknown id.
  virtual absl::StatusOr<SnapshotSummary> GetSnapshot(const std::string& id) = 0;
  // The newest snapshot of `group`; nullopt when the group has none.
  virtual absl::StatusOr<std::optional<SnapshotSummary>> LatestSnapshot(
      const std::string& group) = 0;
  // The free space new chunks may use; nullopt when no part of the
  // repository can tell (a notice in *notices says why: the check is
  // skipped), or when the repository has no limit to check (object
  // storage: no notice). Notices are warnings without data loss.
  virtual absl::StatusOr<std::optional<SpaceReport>> Space(std::vector<v1::Warning>* notices) = 0;
  // Called once, after every check passed and before the first chunk is
  // written: a local repository takes its writer lock here (held until the
  // port is destroyed); the uploaders lock their own repositories.
  virtual absl::Status BeginWrite(const std::string& description) = 0;
  // Commits the snapshot (its chunks are durable): the manifest as written
  // (id, checksums filled in). One attempt; PHASE_COMMIT or PHASE_UPLOAD.
  virtual absl::StatusOr<v1::Manifest> Commit(const v1::Manifest& manifest,
                                              std::string metadata_index,
                                              std::string payload_index) = 0;
};

// What the job asks of the collection.
struct CollectParams {
  std::string parent_id;         // "" none
  bool parent_required = false;  // an explicit parent: unusable is an error, not a warning
  uint64_t align_threshold = 1u << 20;
};

// What the collection reports when it is done.
struct CollectResult {
  v1::BackupStats stats;  // files, bytes_read, reuse, parent_snapshot (when used) ...
  std::vector<v1::CommandResult> commands;
};

class EntrySource {
 public:
  virtual ~EntrySource() = default;
  // Bytes the collection will read, for the free-space check. `parent_id`
  // "": a full read of the source (an lstat walk). Otherwise the snapshot
  // the collection will reuse unchanged files from: only new and changed
  // regular files count (a stat-only walk in step with the parent's
  // metadata). The job asks with a parent only when the parent's
  // bytes_collected fails the check (that walk costs about as much as the
  // collection's own). UNIMPLEMENTED: the source cannot tell (without a
  // parent the check is skipped with a notice; with one the parent's
  // bytes_collected decides). NOT_FOUND or DATA_LOSS: the parent cannot be
  // read (the job then estimates without it).
  virtual absl::StatusOr<uint64_t> EstimateBytes(const std::string& parent_id) = 0;
  // Runs the commands and the walk of the plan into `archive`, updating
  // `progress` (files and bytes; not owned, never null) and handing every
  // warning to `on_warning` as it happens.
  virtual absl::StatusOr<CollectResult> Collect(
      const CollectParams& params, ArchiveSink* archive, Progress* progress,
      const std::function<void(const v1::Warning&)>& on_warning) = 0;
};

// What a chunk sink counted.
struct ChunkSinkTotals {
  uint64_t chunks_total = 0;
  uint64_t chunks_new = 0;
  uint64_t bytes_new_raw = 0;
  uint64_t bytes_new_stored = 0;
  uint64_t bytes_deduplicated = 0;
  double hash_seconds = 0;  // CPU time hashing, summed over threads
};

// The totals of any sink's own statistics struct with these fields.
template <typename Stats>
ChunkSinkTotals TotalsOf(const Stats& s) {
  ChunkSinkTotals t;
  t.chunks_total = s.chunks_total;
  t.chunks_new = s.chunks_new;
  t.bytes_new_raw = s.bytes_new_raw;
  t.bytes_new_stored = s.bytes_new_stored;
  t.bytes_deduplicated = s.bytes_deduplicated;
  t.hash_seconds = s.hash_seconds;
  return t;
}

// The chunks of one job: takes them from the archive (Consume, may block:
// backpressure), makes them durable, and then knows each stream's index.
class ChunkSink : public ChunkConsumer {
 public:
  // Waits until every chunk taken is durable; the first error otherwise.
  virtual absl::Status Finish() = 0;
  // Stops: the first error becomes `why`. Idempotent.
  virtual void Abort(absl::Status why) = 0;
  // The first error so far (OK if none): explains why Consume refused.
  virtual absl::Status error() const = 0;
  // The index of a stream once Finish succeeded.
  virtual absl::StatusOr<ChunkIndex> BuildIndex(v1::StreamKind stream) const = 0;
  virtual ChunkSinkTotals totals() const = 0;
};

class ChunkDestination {
 public:
  virtual ~ChunkDestination() = default;
  // A sink for one job's chunks, encoded with `codec` at `level`. Owned by
  // the destination; valid until it is destroyed.
  virtual absl::StatusOr<ChunkSink*> Open(v1::Codec codec, int level) = 0;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_BACKUP_PORTS_H_
