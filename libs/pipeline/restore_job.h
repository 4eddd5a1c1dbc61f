// One restore, written once for both modes: open the snapshot, select the
// entries (--include, hardlink re-homing: restore_selection.h), read the
// metadata and payload streams and write every selected entry — over the two
// ports of restore_ports.h. Embedded mode (restore.h, `arca restore`) plugs
// in a local repository and a TreeWriter; the chunker service plugs in
// uploader/compressor replicas and a collector's WriteTree.
#ifndef ARCA_LIBS_PIPELINE_RESTORE_JOB_H_
#define ARCA_LIBS_PIPELINE_RESTORE_JOB_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "libs/base/exit_codes.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"
#include "libs/pipeline/restore_ports.h"

namespace arca {

struct RestorePorts {
  SnapshotSource* snapshots = nullptr;  // not owned
  TreeTarget* target = nullptr;         // not owned
};

struct RestoreJobOptions {
  std::vector<std::string> includes;  // glob patterns; empty = everything
  // Live counters (progress.h), or null. Phase restore; files_done = regular
  // files written or kept, bytes_done = file data written or kept (a kept
  // file's size), entries = entries written or kept; bytes_total / files_total from the snapshot's statistics when
  // everything is restored (unknown with includes); marked done on return.
  Progress* progress = nullptr;
  const CancelToken* cancel = nullptr;  // null: cannot be cancelled
  // A regular file with at least `parallel_file_bytes` of data is written by
  // `file_workers` threads at once, by chunk ranges (parallel_file_write.h),
  // when the ports allow it (SnapshotSource::concurrent_payload_chunks,
  // TreeTarget::SupportsParallelData: embedded mode on a local repository).
  // 0: the machine's cores (at most 8); 1: every file in order.
  int file_workers = 0;
  uint64_t parallel_file_bytes = 32u << 20;
};

// What happens to damage (docs/architecture.md §9): a regular file whose data
// cannot be read (DATA_LOSS from the payload: a missing or corrupt chunk)
// is given up (TreeTarget::AbandonEntry: its intact prefix stays, without
// its metadata, locally or on the collector through a WriteTree `abandon`
// item) and listed in RestoreResult::damaged_files; the restore goes on with
// the next entry and ends with DATA_LOSS, exit 8. Damage to the metadata
// stream or the indexes stops the restore (exit 8), as does a target that
// cannot abandon an entry; a write failure on the target stops it with
// exit 13.
struct RestoreResult {
  absl::Status status;
  // 2 bad includes / unknown snapshot, 8 corrupt data (damaged files listed
  // below, or a stop), 13 write failure, 130 cancelled: ExitCodeOf(status).
  ExitCode exit_code = ExitCode::kSuccess;
  std::string snapshot_id;
  uint64_t entries = 0;  // entries written
  uint64_t bytes = 0;    // file data written
  // Entries left as they were in the target (overwrite never / if-changed).
  uint64_t skipped = 0;
  // Delete: nodes removed from the target, and the removed subtrees'
  // paths (the first 1,000).
  uint64_t deleted = 0;
  std::vector<std::string> deleted_paths;
  std::vector<v1::Warning> warnings;
  // Files not restored because their data is damaged, in archive order:
  // phase PHASE_RESTORE, data_missing true, the path, and a message naming
  // the stream offset and the digest of the bad chunk.
  std::vector<v1::Warning> damaged_files;
};

RestoreResult RunRestoreJob(const std::string& snapshot, const RestorePorts& ports,
                            const RestoreJobOptions& options);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_RESTORE_JOB_H_
