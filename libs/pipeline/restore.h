// Embedded restore: the pipeline backwards (store → decompress → reassemble
// → write the tree).
#ifndef ARCA_LIBS_PIPELINE_RESTORE_H_
#define ARCA_LIBS_PIPELINE_RESTORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "libs/base/exit_codes.h"
#include "libs/fs/writable_file_system.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"
#include "libs/pipeline/restore_job.h"
#include "libs/restore/tree_writer.h"
#include "libs/store/repository.h"

namespace arca {

struct RestoreOptions {
  std::string target;                 // directory to write into
  std::vector<std::string> includes;  // glob patterns; empty = everything
  // Existing entries in the target (libs/restore OverwritePolicy; default:
  // replace them, the behaviour before the option).
  OverwritePolicy overwrite = OverwritePolicy::kAlways;
  // After the restore, remove what the snapshot lacks from the restored
  // directories (TreeWriterOptions::delete_extraneous); with includes only
  // inside the selected directories. Refused for the target "/".
  bool delete_extraneous = false;
  // Threads that write one large file at once (RestoreJobOptions::
  // file_workers): 0 = the machine's cores (at most 8), 1 = off.
  int file_workers = 0;
  // Live counters (progress.h), or null. Phase restore; files_done = regular
  // files written, bytes_done = RestoreResult.bytes, entries =
  // RestoreResult.entries; bytes_total / files_total from the snapshot's
  // statistics when everything is restored (unknown with includes); marked
  // done on return. Not owned.
  Progress* progress = nullptr;
  // The file system the tree is written to (TreeWriter::Open's), or null
  // for the real one (fs::DefaultWritableFileSystem()); tests pass a
  // fs::FaultInjectionWritableFileSystem. Not owned.
  fs::WritableFileSystem* file_system = nullptr;
};

// The restore job (restore_job.h) over the local ports
// (local_restore_ports.h).
RestoreResult RunRestore(Repository& repo, absl::string_view snapshot,
                         const RestoreOptions& options, const CancelToken* cancel);

// Calls fn for each entry of a snapshot's metadata stream, in archive order
// (for `arca ls`). Errors: NotFound unknown snapshot, DataLoss corruption.
absl::Status ForEachEntry(Repository& repo, absl::string_view snapshot,
                          const std::function<absl::Status(const v1::Entry&)>& fn);

// The stored output of pre-backup command `name` (backup --command).
// NotFound if the snapshot or command is unknown; DataLoss on corruption.
absl::StatusOr<std::string> ReadCommandOutput(Repository& repo, absl::string_view snapshot,
                                              absl::string_view name);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_RESTORE_H_
