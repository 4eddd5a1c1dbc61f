// Small POSIX file helpers of the local repository: errno → absl::Status with
// the path and what to do, whole-file reads, atomic durable whole-file writes
// (temp file, fsync, rename, fsync of the directory) and directory fsync.
//
// Thread-safety: every function is thread-safe (no shared state).
#ifndef ARCA_LIBS_STORE_FILE_IO_H_
#define ARCA_LIBS_STORE_FILE_IO_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca {

// Status for a failed system call `what` (e.g. "write") on `path` with
// `err` (an errno value):
//   ENOSPC, EDQUOT          → ResourceExhausted "no space left ... free space"
//   EACCES, EPERM, EROFS    → PermissionDenied "the repository at <repo> is
//                             not writable: ..." (for writes) or "cannot read"
//   EIO                     → DataLoss for reads, Unavailable for writes
//   ENOENT                  → NotFound
//   EINTR, EAGAIN, EMFILE, ENFILE, ENOMEM, EBUSY → Unavailable (retry)
//   anything else           → Internal
// `repo` names the repository in the "not writable" message; `write` says
// whether the operation modifies the file system.
absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path,
                         absl::string_view repo, bool write);

// Reads the whole regular file at `path`. NotFound if it does not exist,
// DataLoss on EIO, other codes per ErrnoStatus.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view repo);

// Writes `data` to `dir`/.tmp-<random>, fdatasyncs it, renames it to
// `dir`/`name` (replacing an existing file) and fsyncs `dir`. A reader never
// sees a partial file; after return the file is durable. The temp file is
// removed on failure. `mode` is the new file's permission bits.
absl::Status WriteFileAtomically(const std::string& dir, absl::string_view name,
                                 absl::string_view data, absl::string_view repo, int mode = 0644);
// The same through the temp file `dir`/`temp_name` (which should start with
// kTempPrefix and must not exist), for callers whose temp names say who
// wrote them (CreateWriterLock).
absl::Status WriteFileAtomicallyVia(const std::string& dir, absl::string_view temp_name,
                                    absl::string_view name, absl::string_view data,
                                    absl::string_view repo, int mode = 0644);

// Writes `data` to a new file `path` (O_EXCL) and fdatasyncs it.
absl::Status WriteNewFileDurably(const std::string& path, absl::string_view data,
                                 absl::string_view repo, int mode = 0644);

// fsync(2) of a directory, so that entries created, renamed or removed in it
// are durable.
absl::Status SyncDirectory(const std::string& dir, absl::string_view repo);

// A random name component: 16 lower-case hex characters.
std::string RandomHex16();

// The names in `dir` (without "." and ".."), sorted bytewise. A missing
// directory is empty; other errors per ErrnoStatus.
absl::StatusOr<std::vector<std::string>> ListDirNames(const std::string& dir,
                                                      const std::string& repo);

// Name prefix of every temp file the store writes. Never a valid chunk,
// index or manifest name.
inline constexpr absl::string_view kTempPrefix = ".tmp-";

}  // namespace arca

#endif  // ARCA_LIBS_STORE_FILE_IO_H_
