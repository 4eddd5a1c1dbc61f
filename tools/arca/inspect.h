// arca cat SNAPSHOT PATH and arca diff SNAP1 SNAP2 (embedded mode): the
// output and exit codes around libs/pipeline/snapshot_cat.h and
// snapshot_diff.h. The caller parses the flags and opens the repository.
#ifndef ARCA_TOOLS_ARCA_INSPECT_H_
#define ARCA_TOOLS_ARCA_INSPECT_H_

#include <string>

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

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_INSPECT_H_
