// The write side of the file system, as a restore sees it: everything
// TreeWriter (libs/restore) does to a target tree goes through a
// WritableFileSystem, so that tests can inject ENOSPC, EIO or EACCES at any
// call (FaultInjectionWritableFileSystem, a wrapper of
// PosixWritableFileSystem). The read side is file_system.h. There is no
// in-memory implementation yet.
//
// Safety model (every implementation): below the directory opened with
// WritableFileSystem::OpenDirectory, every operation is relative to an open
// directory handle and takes one path component (`name`, no '/'), and nothing
// ever follows a symlink: directories are opened with O_NOFOLLOW, files are
// created with O_CREAT|O_EXCL|O_NOFOLLOW, a node's metadata is changed on the
// node itself (AT_SYMLINK_NOFOLLOW, or an O_PATH descriptor reached through
// /proc/self/fd). A symlink planted anywhere in the target is therefore never
// written through. Only the operator's own target path (WritableFileSystem::
// Stat / MakeDirectory / OpenDirectory) is resolved like any path and may be
// a symlink to a directory.
//
// Paths for messages: each handle knows its path (the target path given to
// WritableFileSystem::OpenDirectory, then "/<name>" per level), and every
// error names the full path of the node concerned.
//
// Errors (every implementation): the code follows the errno, as on the read
// side (fs::ErrnoToStatusCode in file_system.h): ENOSPC/EDQUOT/EFBIG →
// kResourceExhausted, EACCES/EPERM → kPermissionDenied, ENOENT → kNotFound,
// EEXIST → kAlreadyExists, ENOTDIR/ELOOP/EROFS/ENOTEMPTY/EXDEV →
// kFailedPrecondition, EINVAL/ENAMETOOLONG → kInvalidArgument, ENOTSUP →
// kUnimplemented, EIO (and EINTR, ENOMEM, EMFILE...) → kUnavailable (a
// write that failed with EIO may succeed on another disk or after a retry;
// kDataLoss is kept for damaged snapshots, which the restore reports as
// exit 8), anything else kInternal. The message is "<what> <path>:
// <strerror>", e.g. "cannot write 4096 bytes at offset 0 of /t/a/b: No space
// left on device". The errno itself travels as a payload: StatusErrno(status)
// gives it back, so callers decide on the exact errno (EEXIST, ELOOP, EPERM
// for a refused chown...) without parsing messages.
//
// Ownership and threads: handles are owned by the caller (unique_ptr) and are
// not thread-safe: use each from one thread. A directory handle must outlive
// the nodes opened through it (OpenNode). The file system objects themselves
// are stateless and thread-safe (FaultInjectionWritableFileSystem locks).
#ifndef ARCA_LIBS_FS_WRITABLE_FILE_SYSTEM_H_
#define ARCA_LIBS_FS_WRITABLE_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/fs/file_system.h"

namespace arca::fs {

// An open node of the target tree: a file being written, a directory, or a
// symlink / fifo / device opened with OpenNode. The metadata calls change the
// node itself, never what a symlink points to.
class WritableNode {
 public:
  virtual ~WritableNode() = default;

  // The full path of the node, for messages.
  virtual const std::string& path() const = 0;

  // fstat of the node.
  virtual absl::StatusOr<StatInfo> Stat() = 0;

  // chown without following. EPERM (kPermissionDenied) when the caller is
  // not root: TreeWriter turns that into a warning.
  virtual absl::Status SetOwner(uint32_t uid, uint32_t gid) = 0;

  // chmod to `mode` & 07777 (setuid/setgid/sticky included). Not for
  // symlinks (Linux has no symlink modes).
  virtual absl::Status SetMode(uint32_t mode) = 0;

  // Sets the times in nanoseconds since the epoch; std::nullopt leaves the
  // access time as it is (UTIME_OMIT).
  virtual absl::Status SetTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns) = 0;

  // setxattr / removexattr of one extended attribute (system.posix_acl_*
  // included). ENOTSUP, EPERM, E2BIG, ERANGE, EINVAL keep their errno for
  // the caller to decide; RemoveXattr of an absent name fails with ENODATA.
  virtual absl::Status SetXattr(const std::string& name, const std::string& value) = 0;
  virtual absl::Status RemoveXattr(const std::string& name) = 0;

  // The size of extended attribute `name`'s value (a size query, nothing is
  // read). ENODATA when absent, ENOTSUP when the file system has none.
  virtual absl::StatusOr<size_t> XattrSize(const std::string& name) = 0;
};

// A regular file created by WritableDirectory::CreateFile, open for writing.
// Destroying it closes it (errors ignored): call Close to see them.
class WritableFile : public WritableNode {
 public:
  // Writes all of `data` at `offset` (pwrite, short writes and EINTR
  // retried). ENOSPC/EDQUOT → kResourceExhausted; nothing is written for an
  // empty span. The one exception to "one thread per handle": WriteAt calls
  // for disjoint ranges may run concurrently (restore writes a large file
  // from several threads), as long as no other call on the handle does.
  virtual absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;

  // ftruncate to `size` (a tail past the last write stays a hole).
  virtual absl::Status Truncate(uint64_t size) = 0;

  // close(2); an error here (EIO, ENOSPC, EDQUOT on NFS...) means data may
  // not have reached the file. The file is closed either way; after Close
  // only path() may be called.
  virtual absl::Status Close() = 0;
};

// What a directory handle is opened for.
enum class DirectoryAccess {
  // Everything: children and the directory's own metadata.
  kFull,
  // O_PATH: only Lstat, OpenDirectory and being the `from` of Link; it needs
  // no read permission. Other calls fail (EBADF, kInternal).
  kLookupOnly,
};

// An open directory of the target tree. Every `name` is one path component:
// no '/', not empty, not "." or ".." (callers validate; implementations pass
// it to the system unchanged).
class WritableDirectory : public WritableNode {
 public:
  // fstatat(AT_SYMLINK_NOFOLLOW) of child `name`: std::nullopt when nothing
  // is there (ENOENT), so probing a new name costs no error.
  virtual absl::StatusOr<std::optional<StatInfo>> Lstat(const std::string& name) = 0;

  // Opens child directory `name` without following it: a symlink or any
  // other non-directory there fails with ENOTDIR (ELOOP on some systems;
  // both kFailedPrecondition), a missing one with ENOENT (kNotFound).
  virtual absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& name, DirectoryAccess access = DirectoryAccess::kFull) = 0;

  // mkdirat(name, mode). EEXIST (kAlreadyExists) when anything is there.
  virtual absl::Status MakeDirectory(const std::string& name, uint32_t mode) = 0;

  // unlinkat(AT_REMOVEDIR): ENOTEMPTY when the directory is not empty.
  virtual absl::Status RemoveDirectory(const std::string& name) = 0;

  // unlinkat of a non-directory (a symlink is removed, not followed).
  virtual absl::Status Unlink(const std::string& name) = 0;

  // Creates regular file `name` with O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW and
  // `mode`: EEXIST if anything (a symlink included) is there.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> CreateFile(const std::string& name,
                                                                   uint32_t mode) = 0;

  // symlinkat(target, name); `target` is stored as is, never resolved.
  virtual absl::Status CreateSymlink(const std::string& name, const std::string& target) = 0;

  // mkfifoat(name, mode).
  virtual absl::Status CreateFifo(const std::string& name, uint32_t mode) = 0;

  // mknodat(name, type | mode, rdev); `type` is S_IFCHR or S_IFBLK. EPERM
  // without CAP_MKNOD.
  virtual absl::Status CreateDevice(const std::string& name, uint32_t type, uint32_t mode,
                                    uint64_t rdev) = 0;

  // linkat(from, from_name, this, name, 0): a new name for an existing
  // inode, never following a symlink at from_name. `from` must come from the
  // same WritableFileSystem (kInvalidArgument otherwise).
  virtual absl::Status Link(WritableDirectory& from, const std::string& from_name,
                            const std::string& name) = 0;

  // Opens node `name` itself (O_PATH|O_NOFOLLOW), whatever its type, for
  // its metadata: symlinks, fifos (no blocking open) and devices (never
  // opened for I/O). The node must not outlive this directory.
  virtual absl::StatusOr<std::unique_ptr<WritableNode>> OpenNode(const std::string& name) = 0;

  // The names in this directory, without "." and "..", sorted bytewise
  // (restore --delete compares them with the snapshot's). Needs a kFull
  // handle.
  virtual absl::StatusOr<std::vector<std::string>> ListNames() = 0;

  // readlinkat of symlink `name` (never followed): its target as stored.
  // EINVAL (kInvalidArgument) when `name` is not a symlink, ENOENT
  // (kNotFound) when nothing is there.
  virtual absl::StatusOr<std::string> ReadSymlink(const std::string& name) = 0;
};

// A file system that restores write into.
class WritableFileSystem {
 public:
  virtual ~WritableFileSystem() = default;

  // stat(2) of the operator's target path (symlinks followed): std::nullopt
  // when it does not exist.
  virtual absl::StatusOr<std::optional<StatInfo>> Stat(const std::string& path) = 0;

  // mkdir(2) of `path`; EEXIST (kAlreadyExists) when anything is there.
  virtual absl::Status MakeDirectory(const std::string& path, uint32_t mode) = 0;

  // Opens directory `path` (the restore target; a symlink to a directory is
  // followed, ENOTDIR for anything else). Its handle's path() is `path`.
  virtual absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& path) = 0;
};

// The real file system, through POSIX/Linux *at() system calls. Stateless
// and thread-safe.
class PosixWritableFileSystem final : public WritableFileSystem {
 public:
  PosixWritableFileSystem() = default;

  absl::StatusOr<std::optional<StatInfo>> Stat(const std::string& path) override;
  absl::Status MakeDirectory(const std::string& path, uint32_t mode) override;
  absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& path) override;
};

// The process-wide PosixWritableFileSystem (never destroyed).
WritableFileSystem* DefaultWritableFileSystem();

// fs::ErrnoToStatus (file_system.h: code from the errno, message "<what>
// <path>: <strerror>") with the errno attached as a payload for
// StatusErrno. Implementations of this interface make their errors with it.
absl::Status ErrnoToWriteStatus(int error_number, absl::string_view what, absl::string_view path);

// The errno carried by a status from ErrnoToWriteStatus, or 0 (OK, or a
// status made some other way).
int StatusErrno(const absl::Status& status);

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_WRITABLE_FILE_SYSTEM_H_
