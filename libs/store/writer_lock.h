// Writer locks of a repository: one file per running writer in REPO/locks/
// (docs/formats/repository.md). Locks do not exclude each other: they tell
// garbage collection which chunks may still be about to be referenced.
#ifndef ARCA_LIBS_STORE_WRITER_LOCK_H_
#define ARCA_LIBS_STORE_WRITER_LOCK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace arca {

// How often a live WriterLock refreshes its file's mtime (the heartbeat), and
// how old a heartbeat may get before gc calls the lock stale. The limit is 15
// heartbeats: a writer has to be stopped (SIGSTOP, a suspended VM) for a
// quarter of an hour before gc stops honouring it.
inline constexpr int64_t kWriterLockHeartbeatSeconds = 60;
inline constexpr int64_t kWriterLockStaleSeconds = 15 * 60;

// A running writer registered in REPO/locks/. While it lives, a thread sets
// the lock file's mtime to now every `heartbeat_seconds` (the heartbeat gc
// reads). The destructor stops the thread and removes the lock file. Locks do
// not exclude each other: they tell garbage collection which chunks may still
// be about to be referenced (see LockForWrite and gc.h).
// Thread-safety: Held() may be called from any thread.
// What a lock does in its backend (a file in REPO/locks/, or an object).
struct WriterLockOps {
  std::string path;                       // the lock's name, for messages
  std::function<absl::Status()> refresh;  // the heartbeat
  std::function<absl::Status()> held;     // OK while the lock exists
  std::function<void()> release;          // removes the lock (destructor)
};

class WriterLock {
 public:
  // A lock file at `path`. Starts the heartbeat thread when
  // heartbeat_seconds > 0.
  WriterLock(std::string path, int64_t start_unix_ns,
             int64_t heartbeat_seconds = kWriterLockHeartbeatSeconds);
  // A lock kept by `ops` (object storage).
  WriterLock(WriterLockOps ops, int64_t start_unix_ns,
             int64_t heartbeat_seconds = kWriterLockHeartbeatSeconds);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  const std::string& path() const { return ops_.path; }
  int64_t start_unix_ns() const { return start_unix_ns_; }

  // Refreshes the heartbeat now (the thread calls it; tests may too).
  // Errors: Aborted "writer lock P was removed (a gc found it stale): ..."
  // when the lock is gone, after which chunks this writer relied on may have
  // been collected; other errors (utimensat, PUT) naming the lock.
  absl::Status Heartbeat();
  // OK while the lock file exists (checked now, not cached). Aborted as
  // Heartbeat when it was removed: the writer must not commit.
  absl::Status Held();

 private:
  void HeartbeatLoop(int64_t interval_seconds);

  WriterLockOps ops_;
  const int64_t start_unix_ns_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread heartbeat_;
};

// What a lock file says (Repository::ListWriterLocks).
struct WriterLockInfo {
  std::string path;
  int64_t pid = 0;
  std::string host;
  int64_t start_unix_ns = 0;      // the file's mtime if the file is unreadable
  int64_t heartbeat_unix_ns = 0;  // the file's mtime: the writer's last heartbeat
  std::string description;
};

// The text of a lock file: "pid=", "host=" (C-escaped), "start_unix_ns=",
// "description=" (C-escaped), one per line.
std::string FormatWriterLockText(int64_t pid, std::string_view host, int64_t start_unix_ns,
                                 std::string_view description);

// Reads the fields of a lock file's text into `info` (pid, host,
// start_unix_ns, description): every line "key=value" with a known key and a
// valid value sets that field (the last one wins); other lines, unknown keys
// and invalid values are ignored, leaving the field as it was. Never fails: a
// lock file is evidence of a writer even when its text is damaged.
void ParseWriterLockText(std::string_view text, WriterLockInfo* info);

// Why a lock is stale, or "" if it is live. Stale: its host is `this_host`
// and no process `pid` exists (kill(pid, 0) fails with ESRCH), or its
// heartbeat is older than `now_unix_ns - stale_after_ns` (any host).
std::string WriterLockStaleReason(const WriterLockInfo& lock, std::string_view this_host,
                                  int64_t now_unix_ns, int64_t stale_after_ns);

// This machine's host name as lock files record it.
std::string WriterLockHostName();

// The host as the name of a lock's temp file records it: the host name itself
// when it is 1 to 64 characters of [A-Za-z0-9.-] (file-name safe, no "_"),
// else "_" and 16 hex digits of its 64-bit FNV-1a hash (stable across
// processes and builds). "-" inside a host is fine: the pid comes before the
// first "-" and the random part after the last.
std::string WriterLockTempHostTag(std::string_view host);

// The name of the temp file CreateWriterLock writes a lock through:
// ".tmp-<pid>-<host tag>-<16 hex random>". It exists before the lock is
// renamed into place; a writer killed meanwhile leaves it behind.
std::string WriterLockTempName(int64_t pid, std::string_view host);

// The parts of a WriterLockTempName: ".tmp-<pid>-<host tag>-<random>".
struct WriterLockTempNameParts {
  int64_t pid = 0;       // > 0
  std::string host_tag;  // non-empty, may hold "-"
  std::string random;    // non-empty, no "-"
};
// Splits `name`; nullopt when it is not of that form (an old-style
// ".tmp-<random>", a pid that is not positive decimal digits, ...).
std::optional<WriterLockTempNameParts> ParseWriterLockTempName(std::string_view name);

// Why gc may remove the lock temp file `name` (in REPO/locks/) at any age, or
// "" if it must wait for the stale-lock limit: the name is a
// WriterLockTempName of `this_host` whose process is gone (kill(pid, 0) fails
// with ESRCH) — the rule locks follow. Old-style names (".tmp-<random>"),
// other hosts' names and live pids give "".
std::string WriterLockTempDeadReason(std::string_view name, std::string_view this_host);

// Creates REPO/locks/<start>-<pid>-<random>.lock for the repository at
// `repo` (Repository::LockForWrite documents it) through the temp file
// REPO/locks/WriterLockTempName(). Errors: write errors naming the path.
absl::StatusOr<std::unique_ptr<WriterLock>> CreateWriterLock(
    const std::string& repo, std::string_view description,
    int64_t heartbeat_seconds = kWriterLockHeartbeatSeconds);

// The lock files in REPO/locks/, oldest start first (Repository::ListWriterLocks).
absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocksIn(const std::string& repo);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_WRITER_LOCK_H_
