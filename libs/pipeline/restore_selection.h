// Which entries a restore writes, and how (the --include logic of
// libs/pipeline/restore.cc, shared with the distributed restore in
// services/chunker). Pure logic: no I/O.
//
// Entries of a snapshot's metadata stream are offered one by one, in archive
// order; for each, Select appends to `out` what must be written, in order:
// - without includes: the entry itself;
// - with includes, an entry is selected when its path or an ancestor's
//   matches (the root always is). Before it, its not-yet-written ancestor
//   directories are emitted with their stored metadata;
// - a hardlink whose first name was not restored (filtered out) is emitted
//   as the regular file itself (the first name's entry under the hardlink's
//   path, with its payload); later links of the group point to it;
// - a hardlink whose first name was re-homed that way points to the new path.
//
// Memory: with includes, every multiply-linked regular file's entry is kept
// (hardlink groups), plus the directory chain of the current path.
// Thread-safety: not thread-safe; one per restore.
#ifndef ARCA_LIBS_PIPELINE_RESTORE_SELECTION_H_
#define ARCA_LIBS_PIPELINE_RESTORE_SELECTION_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "libs/fs/exclude.h"

namespace arca {

class RestoreSelection {
 public:
  // InvalidArgument naming a bad pattern (libs/fs/exclude.h syntax).
  static absl::StatusOr<RestoreSelection> Create(const std::vector<std::string>& includes,
                                                 std::string snapshot_id);

  // Appends the entries to write for `entry` (0, 1 or more) to *out.
  // DataLoss when a hardlink points to no earlier file of the snapshot
  // (needed only when its first name was filtered out).
  absl::Status Select(const v1::Entry& entry, std::vector<v1::Entry>* out);

  bool filtered() const { return !includes_.empty(); }

 private:
  RestoreSelection(fs::PathMatcher includes, std::string snapshot_id)
      : includes_(std::move(includes)), snapshot_id_(std::move(snapshot_id)) {}

  struct PendingDir {
    v1::Entry entry;
    bool written = false;
  };

  fs::PathMatcher includes_;
  std::string snapshot_id_;
  absl::flat_hash_map<std::string, v1::Entry> linked_files_;
  absl::flat_hash_map<std::string, std::string> restored_as_;  // first name → restored path
  std::vector<PendingDir> dir_stack_;
};

// True when `path` or one of its ancestors matches `includes` ("" always).
bool IncludedByPatterns(const fs::PathMatcher& includes, const v1::Entry& entry);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_RESTORE_SELECTION_H_
