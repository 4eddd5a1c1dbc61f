// Embedded backup: runs every phase of the pipeline in this process
// (collection → archive → compression → upload → commit) over a local
// repository: the one backup job (backup_job.h) with the local ports.
#ifndef ARCA_LIBS_PIPELINE_BACKUP_H_
#define ARCA_LIBS_PIPELINE_BACKUP_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/base/exit_codes.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup_job.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/progress.h"
#include "libs/store/repository.h"

namespace arca {

struct BackupOptions {
  std::string source;                 // absolute path of a directory
  std::vector<std::string> excludes;  // glob patterns (docs/excludes.md)
  bool one_file_system = false;
  Codec codec = Codec::kZstd;
  int level = 3;
  std::vector<CommandSpec> commands;
  double space_safety_factor = 1.5;
  bool space_check = true;  // false: --no-space-check (BackupPlan.skip_space_check)
  int workers = 0;          // compression/upload threads; 0 = cores
  std::string host;         // "" = gethostname()
  // Change detection (docs/change-detection.md): reuse the parent
  // snapshot's chunks for files whose metadata did not change.
  bool metadata_change_detection = true;  // false: --change-detection=data
  std::string parent;                     // "" = latest snapshot of the group
  bool ignore_ctime = false;
  std::map<std::string, std::string> labels;  // --label KEY=VALUE (BackupPlan.labels)
  size_t change_window_entries = 32768;       // see ReuseOptions::window_entries
  // Live counters (progress.h), or null. Phase setup → collection (the whole
  // pipeline) → commit; bytes_total is the source estimate of the space
  // check (with a parent: its bytes_collected, or the new and changed
  // files when that is refused); at the end
  // files_done = stats.files, bytes_done = stats.bytes_collected, warnings =
  // warnings.size() (when the pipeline ran), and it is marked done on every
  // return. Not owned.
  Progress* progress = nullptr;
};

// The plan these options describe (backup_plan.h): host "" becomes this
// machine's name, the commands keep their command lines.
v1::BackupPlan ToBackupPlan(const BackupOptions& options);

using BackupResult = BackupJobResult;

// Backs up options.source into repo: the backup job (backup_job.h) over the
// local ports (local_backup_ports.h). Never throws; every failure is in the
// result with its exit code: 2 invalid options, 4 repository, 5 not enough
// space, 9 collection, 10 archive, 11 compression, 12 upload/commit,
// 130 cancelled. A snapshot is visible only when the result is 0 or 3.
BackupResult RunBackup(Repository& repo, fs::FileSystem* fs, const BackupOptions& options,
                       const CancelToken* cancel);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_BACKUP_H_
