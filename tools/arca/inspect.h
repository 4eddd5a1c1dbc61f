// arca cat SNAPSHOT PATH, arca diff SNAP1 SNAP2 and arca find PATTERN...
// (embedded mode): the output and exit codes around
// libs/pipeline/snapshot_cat.h, snapshot_diff.h and snapshot_find.h. The caller parses the flags
// and opens the repository.
#ifndef ARCA_TOOLS_ARCA_INSPECT_H_
#define ARCA_TOOLS_ARCA_INSPECT_H_

#include <string>

#include "libs/pipeline/snapshot_find.h"
#include "libs/store/repository.h"

namespace arca::cli {

// Writes regular file `path` of `snapshot` to stdout. Returns the exit code:
// 0; 2 when the snapshot or the path does not exist, or the path is not a
// regular file (directory, symlink, device, ...); 8 for damaged data; 1
// when stdout cannot be written. Errors go to stderr.
int CatFileToStdout(Repository& repo, const std::string& snapshot, const std::string& path);

// Prints what changed from snapshot `from` to `to`: lines "+ PATH", "- PATH"
// and "M PATH (what, ...)", or with `json` one document {"from", "to",
// "added", "removed", "modified": [{"path", "changes"}], "unchanged"}.
// Returns 0 whether or not anything changed, 2 for an unknown snapshot, 8
// for damaged metadata or payload.
int PrintSnapshotDiff(Repository& repo, const std::string& from, const std::string& to, bool json);

// Prints the entries of the snapshots `options` selects whose path matches a
// pattern, snapshots newest first: one line "SNAPSHOT  TYPE  SIZE  MTIME  PATH"
// per match (MTIME in UTC, the root never matches), or with `json` one
// document {"matches":[{"snapshot","path","type","size","mtime_unix_ns"}]}.
// Returns 0 whether or not anything matched, 2 for a bad pattern or group or
// an unknown snapshot, 8 for damaged metadata.
int PrintFind(Repository& repo, const FindOptions& options, bool json);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_INSPECT_H_
