#include "libs/fs/path_roots.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/fs/file_system.h"

namespace arca::fs {
namespace {

// realpath(3) of `path`, or its errno.
absl::StatusOr<std::string> RealPath(const std::string& path, int* error_number) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    *error_number = errno;
    return ErrnoToStatus(*error_number, "cannot resolve", path);
  }
  std::string out(resolved);
  free(resolved);
  return out;
}

}  // namespace

absl::StatusOr<std::string> CanonicalizePath(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("path '", path, "' is not absolute"));
  }
  // Walk up from `path` to the nearest ancestor realpath resolves; what is
  // cut off must not exist (ENOENT, and lstat finds nothing: not a dangling
  // symbolic link).
  // No lexical normalisation first: "x/.." must be resolved by the kernel
  // (x may be a symbolic link).
  std::filesystem::path existing(path);
  std::filesystem::path tail;
  for (;;) {
    int error_number = 0;
    absl::StatusOr<std::string> real = RealPath(existing.string(), &error_number);
    if (real.ok()) {
      std::filesystem::path joined = std::filesystem::path(*real);
      if (!tail.empty()) joined = (joined / tail).lexically_normal();
      std::string out = joined.string();
      while (out.size() > 1 && out.back() == '/') out.pop_back();
      return out;
    }
    if (error_number != ENOENT) return real.status();
    struct stat st;
    if (lstat(existing.c_str(), &st) == 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "path ", path, ": ", existing.string(),
          " is a symbolic link whose target does not exist (where it points cannot be judged)"));
    }
    // Not there: judge its parent. The root always resolves, so this ends.
    std::filesystem::path name = existing.filename();
    existing = existing.parent_path();
    if (!name.empty()) tail = tail.empty() ? name : name / tail;
  }
}

bool IsPathWithin(absl::string_view path, absl::string_view root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

absl::StatusOr<std::vector<std::string>> CanonicalizeRoots(const std::vector<std::string>& roots,
                                                           absl::string_view flag) {
  std::vector<std::string> out;
  for (const std::string& root : roots) {
    if (root.empty() || root[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", flag, " '", root, "': must be an absolute path"));
    }
    int error_number = 0;
    absl::StatusOr<std::string> real = RealPath(root, &error_number);
    if (!real.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", flag, " '", root, "': ", real.status().message()));
    }
    struct stat st;
    if (stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", flag, " '", root, "': not a directory"));
    }
    if (absl::c_find(out, *real) == out.end()) out.push_back(*std::move(real));
  }
  return out;
}

absl::StatusOr<std::string> ResolveWithinRoots(const std::string& path,
                                               const std::vector<std::string>& roots,
                                               absl::string_view what, absl::string_view service,
                                               absl::string_view flag) {
  if (roots.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " '", path, "' refused: the ", service, " was started without ", flag,
                     ", so it allows none; start the ", service, " with ", flag,
                     " DIR (repeatable) naming the directories it may reach"));
  }
  absl::StatusOr<std::string> canonical = CanonicalizePath(path);
  if (!canonical.ok()) {
    if (canonical.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", path, "' must be an absolute path on the ", service, "'s node"));
    }
    return absl::Status(
        canonical.status().code(),
        absl::StrCat(what, " '", path, "' refused: ", canonical.status().message()));
  }
  for (const std::string& root : roots) {
    if (IsPathWithin(*canonical, root)) return canonical;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      what, " '", path, "'", *canonical == path ? "" : absl::StrCat(" (", *canonical, ")"),
      " is outside the ", service, "'s ", flag, " directories (", absl::StrJoin(roots, ", "),
      "): start the ", service, " with ", flag, " naming a directory that contains it"));
}

}  // namespace arca::fs
