// The collection phase of one backup, written once for both modes: runs the
// pre-backup commands (their output goes first into the payload stream),
// then walks the source and feeds every entry and the file data that must be
// read to an ArchiveSink — the ArchiveBuilder in this process (embedded), or
// the Collect stream to a chunker (the collector service). Change detection
// against the parent snapshot, when there is one: unchanged files are
// reused without being read (TreeCollector), and a file whose inode and
// ctime are the parent's keeps the parent's xattrs and ACLs without reading
// them (setting either moves ctime; not with ignore_ctime).
#ifndef ARCA_LIBS_PIPELINE_COLLECTION_H_
#define ARCA_LIBS_PIPELINE_COLLECTION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/archive_sink.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/parent_snapshot.h"
#include "libs/pipeline/progress.h"

namespace arca {

struct CollectionPlan {
  std::string source;                         // a directory; absolute
  const fs::PathMatcher* excludes = nullptr;  // not owned; null: none
  bool one_file_system = false;
  std::vector<CommandSpec> commands;  // with their command lines, in order
  ParentSnapshot* parent = nullptr;   // not owned; null: every file is read
  bool ignore_ctime = false;
  uint64_t align_threshold = 1u << 20;  // see ReuseOptions
  size_t window_entries = 32768;        // see ReuseOptions
  // See ReuseOptions::chunk_present; null: parent chunks assumed stored.
  std::function<absl::StatusOr<bool>(const Digest&)> parent_chunk_present;
  // See ReuseOptions::parent_required: a damaged parent metadata stream is
  // an error (true) or a warning after which every file is read (false).
  bool parent_required = false;
};

// What the collection reports besides the sink's bytes.
struct CollectionOutput {
  v1::BackupStats stats;              // the collection's counters (files, bytes_read, ...)
  std::vector<v1::Warning> warnings;  // appended as they happen
  uint64_t command_bytes = 0;         // stdout of the commands, in the payload stream
};

// Runs the commands and the walk into `sink`. `on_command` gets each
// command's result (with its payload range) after its output was appended,
// before the walk. A critical command that fails stops the backup
// (FAILED_PRECONDITION, PHASE_COLLECTION); another one is a data-missing
// warning. Errors carry their phase (collection 9, archive 10); when
// `cancel` fires, CANCELLED. `progress` may be null.
absl::Status RunCollection(const CollectionPlan& plan, fs::FileSystem* fs, ArchiveSink* sink,
                           const std::function<absl::Status(const v1::CommandResult&)>& on_command,
                           const CancelToken* cancel, Progress* progress, CollectionOutput* output);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_COLLECTION_H_
