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
  // files written, bytes_done = file data written, entries = entries
  // written; bytes_total / files_total from the snapshot's statistics when
  // everything is restored (unknown with includes); marked done on return.
  Progress* progress = nullptr;
  const CancelToken* cancel = nullptr;  // null: cannot be cancelled
};

struct RestoreResult {
  absl::Status status;
  // 2 bad includes / unknown snapshot, 8 corrupt data, 13 write failure,
  // 130 cancelled: ExitCodeOf(status).
  ExitCode exit_code = ExitCode::kSuccess;
  std::string snapshot_id;
  uint64_t entries = 0;  // entries written
  uint64_t bytes = 0;    // file data written
  std::vector<v1::Warning> warnings;
};

RestoreResult RunRestoreJob(const std::string& snapshot, const RestorePorts& ports,
                            const RestoreJobOptions& options);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_RESTORE_JOB_H_
