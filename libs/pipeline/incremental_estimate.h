// How many bytes a backup with a parent snapshot will read: the files that
// change detection (docs/change-detection.md) cannot reuse. The estimate of
// the free-space check (space_check.h) when a parent exists; a metadata-only
// walk of the source in archive order, in step with the parent's metadata
// stream (ParentSnapshot), like the collection's own walk but without
// reading xattrs, ACLs or file data.
//
// Thread-safety: stateless; `fs` and `parent` must be usable from the calling
// thread and are not shared with another walk while it runs.
#ifndef ARCA_LIBS_PIPELINE_INCREMENTAL_ESTIMATE_H_
#define ARCA_LIBS_PIPELINE_INCREMENTAL_ESTIMATE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/parent_snapshot.h"

namespace arca {

struct IncrementalEstimate {
  uint64_t bytes_to_read = 0;  // Σ size of the new or changed regular files
  uint64_t files_to_read = 0;
  uint64_t files_unchanged = 0;
};

// Walks `root` (honouring `excludes` and `one_file_system`) and sums the
// regular files the collection would read with `parent` as its parent: those
// the parent has no regular entry for, or whose type, size, mode, owner,
// or mtime or ctime (unless `ignore_ctime`) differ, hardlinked files (always
// read) and files the parent did not store in full: UnchangedSince, with the
// parent's xattrs taken as unchanged (setting one moves ctime). A sparse
// file counts by its size (the walk does not see allocated blocks), so the
// estimate errs high. `parent` must be fresh
// (no Find called yet); it is consumed. Unreadable directories and vanished
// entries are skipped (the collection reports them). Errors: the root
// cannot be walked (TreeWalker::Open's status), DataLoss from a damaged
// parent metadata stream, CANCELLED when `cancel` (may be null) fires.
absl::StatusOr<IncrementalEstimate> EstimateChangedBytes(
    fs::FileSystem* fs, const std::string& root, const fs::PathMatcher* excludes,
    bool one_file_system, ParentSnapshot* parent, bool ignore_ctime, const CancelToken* cancel);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_INCREMENTAL_ESTIMATE_H_
