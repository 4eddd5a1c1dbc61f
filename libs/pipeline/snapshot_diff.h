// arca diff SNAP1 SNAP2: what changed between two snapshots, by a merge walk
// of their metadata streams in archive order (memory: one entry of each).
#ifndef ARCA_LIBS_PIPELINE_SNAPSHOT_DIFF_H_
#define ARCA_LIBS_PIPELINE_SNAPSHOT_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/store/repository.h"

namespace arca {

// An entry present in both snapshots whose stored metadata or content
// differs. `changes` names what differs, in this order, from: "type",
// "size", "mode", "uid", "gid", "mtime", "content", "symlink_target",
// "hardlink_target", "device", "xattrs", "acl".
struct ModifiedEntry {
  std::string path;
  std::vector<std::string> changes;
};

struct SnapshotDiff {
  std::string from_id, to_id;
  std::vector<std::string> added;    // paths in archive order
  std::vector<std::string> removed;  // paths in archive order
  std::vector<ModifiedEntry> modified;
  uint64_t unchanged = 0;
};

// Compares snapshot `from` with snapshot `to` (ids as LoadSnapshot takes
// them: "latest", GROUP/latest). atime, ctime and the source's inode
// numbers are not compared (not restored). "content" of regular files: equal
// when both files use the same byte ranges of the same payload chunks
// (digests); when they do not (a file read again after a chmod may share an
// edge chunk with another file) but their sizes and sparse extents agree,
// the payload bytes are compared. Different extents count as a content
// change. A hardlink's content is its first name's: see that entry.
// Errors: NotFound for an unknown snapshot; DataLoss for damaged metadata or
// payload.
absl::StatusOr<SnapshotDiff> DiffSnapshots(Repository& repo, absl::string_view from,
                                           absl::string_view to);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SNAPSHOT_DIFF_H_
