// Walks a source tree in archive order and captures each entry's metadata.
//
// Order: depth-first pre-order, the root first (path ""), each directory's
// children sorted bytewise by name, a directory's entry before its children.
// This order is the order of the metadata stream; the chunker's change
// detection walks the previous snapshot in step with it, so it must never
// change.
//
// Entries: regular files, directories, symlinks, hardlinks (a regular file
// with nlink > 1 whose (dev, ino) was already emitted becomes
// ENTRY_TYPE_HARDLINK naming the first emitted path), fifos, character and
// block devices. Sockets are skipped with a warning. Excluded entries never
// appear, and an excluded directory is not descended into. The walker fills
// path, type, mode (& 07777), uid, gid, atime/mtime/ctime, size (regular
// files and symlinks), symlink_target, rdev (devices), xattrs (sorted,
// without system.posix_acl_*), acl_access / acl_default, dev, ino, nlink.
// A HARDLINK entry carries the stat fields (not size, xattrs or ACLs: they
// belong to the inode, which the first name carries). payload, extents and
// sparse are left for the content reader.
//
// Problems that do not stop the walk become warnings (TakeWarnings):
// an unreadable directory (its entry is still emitted, as empty), an entry
// that vanished between listing and lstat, unreadable xattrs (the entry is
// emitted without them), a malformed ACL (emitted without it), a socket.
//
// Memory: O(depth × directory width) for the stack of sorted name lists,
// plus one (dev, ino) → path record per hardlinked file; never the whole
// tree.
#ifndef ARCA_LIBS_FS_TREE_WALKER_H_
#define ARCA_LIBS_FS_TREE_WALKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"

namespace arca::fs {

struct WalkOptions {
  // Paths to leave out (not owned; must outlive the walker). Null: none.
  const PathMatcher* excludes = nullptr;
  // Do not descend into directories on another device than the root (the
  // mount-point directory itself is still listed, empty).
  bool one_file_system = false;
  // Optional: given an entry with its stat fields filled in (path, type,
  // mode, owner, times, size, dev, ino), may fill its xattrs and ACLs from
  // an earlier record of the same file and return true; the walker then does
  // not read them (change detection: a file whose inode and ctime are
  // unchanged has unchanged xattrs, as setting one moves ctime). Called in
  // archive order. Null: xattrs are always read.
  std::function<bool(v1::Entry* entry)> known_xattrs;
};

// Not thread-safe.
class TreeWalker {
 public:
  // Starts a walk of directory `root` (absolute or relative; trailing '/'
  // ignored; a symlink to a directory is followed for the root only).
  // `fs` is not owned and must outlive the walker. Errors:
  //   NotFound "source /x does not exist";
  //   FailedPrecondition "source /x is not a directory" or
  //   "source /x cannot be read: ..." (also for an lstat failure);
  //   InvalidArgument for an empty root.
  static absl::StatusOr<std::unique_ptr<TreeWalker>> Open(FileSystem* fs, std::string root,
                                                          WalkOptions options);

  // Fills `*entry` (cleared first) with the next entry in archive order and
  // returns true; returns false at the end. Per-entry problems are warnings;
  // an error is returned only when the walk cannot continue.
  absl::StatusOr<bool> Next(v1::Entry* entry);

  // The warnings collected since the last call (phase PHASE_COLLECTION, the
  // entry's relative path, a message saying what happened).
  std::vector<v1::Warning> TakeWarnings();

  // The root as given, without trailing '/'.
  const std::string& root() const { return root_; }

  // root + "/" + rel_path; the root itself for "".
  std::string AbsolutePath(absl::string_view rel_path) const;

 private:
  // A directory being listed: its relative path and sorted child names.
  struct Frame {
    std::string rel_path;
    std::vector<std::string> names;
    size_t next = 0;
  };

  TreeWalker(FileSystem* fs, std::string root, WalkOptions options);

  // Fills `entry` for the lstat'ed `rel_path`; false (with a warning) when
  // the entry is to be skipped. `abs_path_` holds its absolute path.
  bool FillEntry(const std::string& rel_path, const StatInfo& st, v1::Entry* entry);
  // xattrs and ACLs of `abs_path_`; false when the entry vanished.
  bool FillXattrs(const std::string& rel_path, v1::Entry* entry);
  // Pushes a frame listing directory `rel_path` (abs path in `abs_path_`),
  // unless one_file_system stops at it; a warning if it cannot be read.
  void Descend(const std::string& rel_path, const StatInfo& st);
  void Warn(absl::string_view rel_path, std::string message, bool data_missing = true);
  void SetAbsolutePath(absl::string_view rel_path);

  FileSystem* const fs_;
  const std::string root_;
  std::string root_access_;  // root_, or root_ + "/" when root_ is a symlink
  const WalkOptions options_;
  uint64_t root_dev_ = 0;
  StatInfo root_stat_;
  bool root_emitted_ = false;
  std::vector<Frame> stack_;
  std::vector<v1::Warning> warnings_;
  // First emitted path of each hardlinked regular file, by (dev, ino).
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, std::string> links_;
  std::string abs_path_;  // scratch: absolute path of the current entry
  std::string rel_path_;  // scratch: relative path of the current entry
};

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_TREE_WALKER_H_
