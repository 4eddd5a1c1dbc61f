// CompareTrees: attribute-by-attribute comparison of two directory trees, for
// tests of backup → restore round trips.
//
// Thread-safety: CompareTrees is reentrant (no shared state).
#ifndef ARCA_LIBS_FS_TESTING_TREE_COMPARE_H_
#define ARCA_LIBS_FS_TESTING_TREE_COMPARE_H_

#include <string>
#include <vector>

namespace arca::testing {

struct CompareOptions {
  // Compare mode, owner, mtime, xattrs and ACLs of the two roots themselves.
  bool compare_root_metadata = true;
  // Relative paths ('/'-separated, no leading '/') left out of the comparison,
  // each with everything below it.
  std::vector<std::string> ignore_paths;
  // Also compare the mtime of symlinks (off by default: some tools cannot set
  // it).
  bool symlink_mtime = false;
};

// Walks both trees (lstat, never following a symlink; *at() calls, so paths
// longer than PATH_MAX work) and returns one human-readable line per
// difference, each starting with its kind and naming the relative path:
//   "missing: 'p' (regular file) is in expected but not in actual"
//   "extra: 'p' (directory) is in actual but not in expected"
//   "type: ...", "mode: ...", "uid: ...", "gid: ...", "mtime: ...",
//   "size: ...", "content: ... first difference at byte N",
//   "symlink: ...", "rdev: ...", "xattr: ...", "acl: ...", "hardlink: ...",
//   "sparse: ...", "error: ..." (a tree could not be read).
// Compared: type; mode & 07777 (not for symlinks); uid; gid; mtime in ns (for
// symlinks only with symlink_mtime); size of regular files and symlinks;
// content of regular files (byte by byte, skipping holes both files share);
// symlink targets; rdev of devices; xattrs in the user., security. and
// trusted. namespaces; the bytes of system.posix_acl_access/_default;
// hardlink structure (two paths share an inode in expected exactly when they
// do in actual); sparseness (when expected allocates less than half its size,
// actual must too). Directory sizes, atime, ctime and link counts are not
// compared. An empty result means the trees are identical in all of these.
std::vector<std::string> CompareTrees(const std::string& expected_root,
                                      const std::string& actual_root,
                                      const CompareOptions& opts = {});

}  // namespace arca::testing

#endif  // ARCA_LIBS_FS_TESTING_TREE_COMPARE_H_
