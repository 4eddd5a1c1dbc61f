// A FileSystem decorator that injects failures into another FileSystem, for
// tests of the collector and the CLI (LevelDB's FaultInjectionTestEnv):
// a file that cannot be opened, a read error in the middle of a file, a file
// deleted between listing and reading, an unreadable directory or xattr list
// (tests run as root, so permissions cannot produce these). It also counts
// OpenForRead calls, to prove that an unchanged re-backup opens no file.
//
// Faults are keyed by the exact path string passed to the FileSystem calls
// (the absolute path the walker/collector builds); they can be added at any
// time and apply to every later call (a FailRead also to files already open).
//
// Thread-safety: thread-safe. The base FileSystem must outlive this object
// and every file opened through it.
#ifndef ARCA_LIBS_FS_FAULT_INJECTION_FILE_SYSTEM_H_
#define ARCA_LIBS_FS_FAULT_INJECTION_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/fs/file_system.h"

namespace arca::fs {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  // `base` is not owned.
  explicit FaultInjectionFileSystem(FileSystem* base);

  // OpenForRead(path) fails with `status` (which must not be OK).
  void FailOpen(const std::string& path, absl::Status status);

  // ReadAt on a file opened from `path` fails with `status` when the read
  // starts at or after `after_bytes`, or would deliver a byte at or after
  // `after_bytes` (so the bytes before it can still be read in small reads;
  // a read that ends exactly at after_bytes succeeds).
  void FailRead(const std::string& path, absl::Status status, uint64_t after_bytes = 0);

  // Simulates `path` being deleted after it was listed: Lstat, ReadLink and
  // GetXattrs still pass through (the walker lists it as before), but
  // OpenForRead fails with kNotFound ("... (vanished)").
  void Vanish(const std::string& path);

  // ListDirectory(path) fails with `status` (an unreadable directory).
  void FailListDirectory(const std::string& path, absl::Status status);

  // GetXattrs(path) fails with `status`.
  void FailGetXattrs(const std::string& path, absl::Status status);

  // Removes every injected fault (the counters are kept).
  void ClearFaults();

  // Number of OpenForRead calls so far (failed ones included), in total and
  // for one exact path.
  uint64_t open_count() const;
  uint64_t open_count(const std::string& path) const;

  absl::StatusOr<StatInfo> Lstat(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override;
  absl::StatusOr<std::string> ReadLink(const std::string& path) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> GetXattrs(
      const std::string& path) override;

 private:
  class File;
  struct ReadFault {
    absl::Status status;
    uint64_t after_bytes = 0;
  };

  // The read fault for `path`, if any (called by File::ReadAt).
  bool FindReadFault(const std::string& path, ReadFault* fault) const;

  FileSystem* const base_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Status> open_faults_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, ReadFault> read_faults_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> vanished_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> list_faults_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> xattr_faults_ ABSL_GUARDED_BY(mu_);
  uint64_t open_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint64_t> open_counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_FAULT_INJECTION_FILE_SYSTEM_H_
