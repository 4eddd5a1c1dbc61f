// Writer locks of a repository: one file per running writer in REPO/locks/
// (docs/formats/repository.md). Locks do not exclude each other: they tell
// garbage collection which chunks may still be about to be referenced.
#ifndef ARCA_LIBS_STORE_WRITER_LOCK_H_
#define ARCA_LIBS_STORE_WRITER_LOCK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace arca {

// A running writer registered in REPO/locks/. The destructor removes the lock
// file. Locks do not exclude each other: they tell garbage collection which
// chunks may still be about to be referenced (see LockForWrite).
class WriterLock {
 public:
  WriterLock(std::string path, int64_t start_unix_ns)
      : path_(std::move(path)), start_unix_ns_(start_unix_ns) {}
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  const std::string& path() const { return path_; }
  int64_t start_unix_ns() const { return start_unix_ns_; }

 private:
  std::string path_;
  int64_t start_unix_ns_;
};

// What a lock file says (Repository::ListWriterLocks).
struct WriterLockInfo {
  std::string path;
  int64_t pid = 0;
  std::string host;
  int64_t start_unix_ns = 0;  // the file's mtime if the file is unreadable
  std::string description;
};

// Creates REPO/locks/<start>-<pid>-<random>.lock for the repository at
// `repo` (Repository::LockForWrite documents it). Errors: write errors
// naming the path.
absl::StatusOr<std::unique_ptr<WriterLock>> CreateWriterLock(const std::string& repo,
                                                             std::string_view description);

// The lock files in REPO/locks/, oldest start first (Repository::ListWriterLocks).
absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocksIn(const std::string& repo);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_WRITER_LOCK_H_
