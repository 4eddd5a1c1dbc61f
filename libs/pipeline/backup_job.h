// One backup, written once for both modes: the job checks the plan, reads the
// repository's configuration, picks the parent snapshot, checks the free
// space, then runs collection → archive (chunking) → chunk sink
// (compression + upload) and commits the snapshot — over the three ports of
// backup_ports.h. Embedded mode (backup.h, `arca backup`) plugs in local
// ports; the chunker service plugs in gRPC ones. The manifest and its
// statistics have the same keys in both modes (options["pipeline"] says
// which ran it).
#ifndef ARCA_LIBS_PIPELINE_BACKUP_JOB_H_
#define ARCA_LIBS_PIPELINE_BACKUP_JOB_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/base/exit_codes.h"
#include "libs/pipeline/backup_plan.h"
#include "libs/pipeline/backup_ports.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"

namespace arca {

struct BackupPorts {
  SnapshotRepository* repository = nullptr;  // not owned
  EntrySource* entries = nullptr;            // not owned
  ChunkDestination* chunks = nullptr;        // not owned
};

struct BackupJobOptions {
  std::string pipeline;  // "embedded" or "distributed": manifest options["pipeline"]
  // Live counters (progress.h), or null. Phases: setup → collection (the
  // whole pipeline while the source is read) → upload (the chunks still in
  // flight) → commit; bytes_total is the free-space estimate; marked done on
  // every return.
  Progress* progress = nullptr;
  // Every warning as it happens (also in the result), or null.
  std::function<void(const v1::Warning&)> on_warning;
  const CancelToken* cancel = nullptr;  // null: cannot be cancelled
  // How messages name the plan's fields (backup_plan.h).
  PlanFieldNames field_names = PlanFieldNames::kFlags;
};

struct BackupJobResult {
  absl::Status status;                      // OK, or the failure (phase attached)
  ExitCode exit_code = ExitCode::kSuccess;  // 0, 3 (data missing), or ExitCodeOf(status)
  v1::Manifest manifest;                    // the committed snapshot (when written)
  std::vector<v1::Warning> warnings;
  ChunkSinkTotals chunk_totals;  // what the chunk sink counted (when it ran)
};

// Never throws; every failure is in the result: 2 invalid plan, 4
// repository, 5 not enough space, 9 collection, 10 archive, 11 compression,
// 12 upload/commit, 130 cancelled. A snapshot exists only when the exit
// code is 0 or 3.
BackupJobResult RunBackupJob(const v1::BackupPlan& plan, const BackupPorts& ports,
                             const BackupJobOptions& options);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_BACKUP_JOB_H_
