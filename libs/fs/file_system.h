// The read side of the file system, as the collector sees it: lstat, list a
// directory, open a file for positional reads, read a symlink, read all
// extended attributes. Everything the collector does to a source tree goes
// through a FileSystem so that tests can inject faults
// (FaultInjectionFileSystem, a wrapper of PosixFileSystem). There is no
// in-memory implementation yet.
//
// Paths are absolute (or relative to the process's working directory) byte
// strings; they need not be UTF-8. Nothing here follows a symlink that is the
// last component of a path.
//
// Errors (every implementation): a missing path is kNotFound, EACCES/EPERM is
// kPermissionDenied, a path of the wrong type (ENOTDIR, ELOOP on a symlink)
// is kFailedPrecondition, transient failures (EIO, EINTR, EMFILE, ENOMEM...)
// are kUnavailable; every message names the path and the system error.
#ifndef ARCA_LIBS_FS_FILE_SYSTEM_H_
#define ARCA_LIBS_FS_FILE_SYSTEM_H_

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"

namespace arca::fs {

// The fields of struct stat that arca uses. Times are nanoseconds since the
// Unix epoch.
struct StatInfo {
  uint32_t mode = 0;  // full st_mode, including the S_IFMT type bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t nlink = 0;
  uint64_t rdev = 0;
  uint64_t blocks = 0;  // allocated space in 512-byte units
};

// An open file. Not thread-safe: use one per thread.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // Reads up to buf.size() bytes at `offset` into `buf`; returns the number
  // of bytes read, which is smaller than buf.size() only at the end of the
  // file (0 at or past the end).
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) = 0;

  // fstat of the open file.
  virtual absl::StatusOr<StatInfo> Stat() = 0;

  // The data regions of the file's first `size` bytes, in offset order,
  // non-overlapping, non-empty, clipped to `size` (SEEK_DATA/SEEK_HOLE).
  // One extent {0, size} when the file system cannot tell holes from data;
  // empty when size is 0 or the first `size` bytes are all hole.
  virtual absl::StatusOr<std::vector<v1::Extent>> DataExtents(uint64_t size) = 0;

  // Hint: the caller is about to read the whole file front to back
  // (posix_fadvise SEQUENTIAL). The default does nothing.
  virtual void HintSequential() {}
};

// A file system. Implementations are thread-safe.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // lstat(2): the metadata of `path` itself (a symlink is not followed).
  virtual absl::StatusOr<StatInfo> Lstat(const std::string& path) = 0;

  // The names in directory `path`, without "." and "..", sorted bytewise.
  // kFailedPrecondition when `path` is not a directory.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) = 0;

  // Opens `path` for reading: O_RDONLY|O_NOFOLLOW|O_CLOEXEC, plus O_NOATIME
  // when permitted. A symlink gives kFailedPrecondition (it is not followed);
  // opening a fifo does not block.
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenForRead(
      const std::string& path) = 0;

  // readlink(2): the target of symlink `path`, any length.
  // kFailedPrecondition when `path` is not a symlink.
  virtual absl::StatusOr<std::string> ReadLink(const std::string& path) = 0;

  // All extended attributes of `path` itself (llistxattr/lgetxattr: a
  // symlink is not followed), sorted by name, including system.posix_acl_*.
  // Empty when the file system does not support xattrs.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> GetXattrs(
      const std::string& path) = 0;
};

// The real file system, through POSIX/Linux system calls. Stateless and
// thread-safe.
class PosixFileSystem final : public FileSystem {
 public:
  PosixFileSystem() = default;

  absl::StatusOr<StatInfo> Lstat(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override;
  absl::StatusOr<std::string> ReadLink(const std::string& path) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> GetXattrs(
      const std::string& path) override;
};

// The process-wide PosixFileSystem (never destroyed).
FileSystem* DefaultFileSystem();

// Status for a failed system call: the code follows the errno mapping in the
// file comment; the message is "<what> <path>: <strerror>", e.g.
// ErrnoToStatus(ENOENT, "cannot open", "/a") → NotFound("cannot open /a: No
// such file or directory").
absl::Status ErrnoToStatus(int error_number, absl::string_view what, absl::string_view path);

// The absl::StatusCode for an errno value (the mapping above).
absl::StatusCode ErrnoToStatusCode(int error_number);

// StatInfo from a struct stat (exposed for other POSIX code in arca).
StatInfo StatInfoFromStat(const struct stat& st);

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_FILE_SYSTEM_H_
