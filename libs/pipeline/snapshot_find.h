// arca find PATTERN... and arca ls SNAPSHOT [PATH]: the entries of one or
// more snapshots whose path matches a pattern, or that lie in a directory,
// read from the metadata streams (snapshot_reader.h) without restoring
// anything.
#ifndef ARCA_LIBS_PIPELINE_SNAPSHOT_FIND_H_
#define ARCA_LIBS_PIPELINE_SNAPSHOT_FIND_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "libs/store/repository.h"

namespace arca {

struct FindOptions {
  // libs/fs/exclude.h syntax, matched as restore --include matches: an entry
  // matches when its path or an ancestor's matches a pattern ("dir" finds
  // dir and everything below it). The root never matches. At least one.
  std::vector<std::string> patterns;
  // Only this snapshot (an id, "latest" or "<group>/latest"); "" = every
  // snapshot of `group`.
  std::string snapshot;
  // With an empty `snapshot`: only this group ("" = every group).
  std::string group;
};

// Calls `match` with the snapshot id and the entry for every matching entry:
// snapshots newest first (by time, then id, the reverse of ListSnapshots),
// entries of one snapshot in archive order. No match is not an error.
// Errors:
// - InvalidArgument: no pattern, or a bad pattern (naming it); a bad group;
// - NotFound: unknown `snapshot` (the repository's message);
// - DataLoss: damaged manifest or metadata (run arca verify);
// - the first error `match` returns (then nothing more is called).
absl::Status FindInSnapshots(
    Repository& repo, const FindOptions& options,
    const std::function<absl::Status(const std::string& snapshot, const v1::Entry& entry)>& match);

struct ListOptions {
  // A stored path (leading and trailing '/' ignored; "/" or "." is the
  // root): that entry, and when it is a directory its children
  // (`recursive`: everything below it). "" (no PATH given): every entry,
  // recursive or not (as `arca ls SNAPSHOT` always did, and restic's ls).
  std::string path;
  bool recursive = false;
  // libs/fs/exclude.h syntax, matched as restore --include: only entries
  // whose path or an ancestor's matches (the root never matches). Empty:
  // no filter.
  std::vector<std::string> includes;
};

// Calls `fn` for each entry of `snapshot` that `options` selects, in archive
// order; reading stops after `path`'s subtree (it is contiguous in the
// stream). Errors: InvalidArgument for a bad pattern or a path with "." or
// ".." components; NotFound for an unknown snapshot or a `path` the
// snapshot does not have (naming both); DataLoss for damaged metadata; the
// first error `fn` returns.
absl::Status ListSnapshotEntries(Repository& repo, const std::string& snapshot,
                                 const ListOptions& options,
                                 const std::function<absl::Status(const v1::Entry& entry)>& fn);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SNAPSHOT_FIND_H_
