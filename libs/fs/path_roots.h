// Path roots: the directories a node's admin lets a service reach (the
// collector's --source-root and --restore-root). A requested path is allowed
// when its canonical form is one of the roots or below one of them, compared
// on path-component boundaries (/data2 is not below /data).
//
// Canonical form (CanonicalizePath): the realpath(3) of the path's nearest
// existing ancestor (symbolic links and ".." resolved by the kernel), then the
// components below it that do not exist yet, lexically normalised. So
// /data/../etc and /data/link-to-etc resolve to /etc, and a restore target
// that does not exist yet is judged by where it would be created. Callers
// must then use the canonical path, not the requested one, so that what was
// checked is what is opened.
//
// The real file system (realpath, lstat), not fs::FileSystem: roots guard
// the node's actual tree. Thread-safe (no state).
#ifndef ARCA_LIBS_FS_PATH_ROOTS_H_
#define ARCA_LIBS_FS_PATH_ROOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca::fs {

// The canonical form of the absolute `path` (above). Errors:
//   INVALID_ARGUMENT   `path` is empty or relative;
//   PERMISSION_DENIED  a component of it is a symbolic link whose target does
//                      not exist (where it points cannot be judged);
//   the errno of realpath otherwise (EACCES, ELOOP, ENOTDIR ...), naming it.
absl::StatusOr<std::string> CanonicalizePath(const std::string& path);

// True when the canonical `path` is the canonical `root` or below it.
bool IsPathWithin(absl::string_view path, absl::string_view root);

// The canonical form of each root, duplicates dropped, in the given order.
// INVALID_ARGUMENT naming `flag` and the root when a root is relative, does
// not exist or is not a directory.
absl::StatusOr<std::vector<std::string>> CanonicalizeRoots(const std::vector<std::string>& roots,
                                                           absl::string_view flag);

// The canonical form of `path` when it lies within one of the canonical
// `roots`. PERMISSION_DENIED otherwise, naming `what` ("source"), the path,
// the roots and what to do ("start the <service> with <flag> DIR"); with no
// roots at all, saying that `flag` was not given. CanonicalizePath's errors.
absl::StatusOr<std::string> ResolveWithinRoots(const std::string& path,
                                               const std::vector<std::string>& roots,
                                               absl::string_view what, absl::string_view service,
                                               absl::string_view flag);

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_PATH_ROOTS_H_
