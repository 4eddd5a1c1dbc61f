// Garbage collection (docs/formats/repository.md, "Garbage collection"; on
// object storage see "On object storage": there gc runs exclusively, holding
// a gc lock, and every unreferenced chunk goes). For a local repository:
// removes the chunks no snapshot references, temp files and orphan snapshot
// directories left by crashes, and stale writer locks — without blocking
// backups that run at the same time.
//
// The rule (PBS-style). Let T = the start of the oldest live writer lock, or
// the gc's own start if there is none, and cutoff = T - clock_slack.
//   mark  = every digest in both index files of every committed snapshot,
//           listed after the locks were read;
//   sweep = every chunk file that is not marked AND whose mtime is before
//           the cutoff; temp files and orphan snapshot directories older than
//           the cutoff.
// Why it is safe: every chunk a writer relies on is at least as new as the
// writer (it wrote it, or its Has/Put found it and refreshed its mtime in the
// same system call), so it is not before the cutoff when the writer's lock was
// live at the gc's start, or when the writer started after it; a writer that
// had already finished committed before the snapshots were listed, so its
// chunks are marked. LocalChunkStore::RemoveChunkIfOlder closes the race of a
// refresh with the removal itself.
//
// Thread-safety: RunGc may run beside any number of writers (other threads or
// processes); two gcs at once are safe too (each only removes what its own
// rule allows) but pointless.
#ifndef ARCA_LIBS_STORE_GC_H_
#define ARCA_LIBS_STORE_GC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/store/repository.h"

namespace arca {

struct GcOptions {
  // Count what would go; remove nothing (stale locks included).
  bool dry_run = false;
  // A lock whose heartbeat (file mtime) is older than this is stale
  // (--stale-lock-minutes); so is one of this host whose process is gone.
  int64_t stale_lock_ns = kWriterLockStaleSeconds * 1000000000ll;
  // Subtracted from T: clocks of the writers' hosts and of the file system
  // may disagree by this much.
  int64_t clock_slack_ns = 5 * 60 * 1000000000ll;
  // The gc's start (tests); 0 = now.
  int64_t now_unix_ns = 0;
  // This host as locks name it; "" = gethostname().
  std::string host;
};

struct GcStats {
  uint64_t snapshots = 0;      // committed snapshots marked
  uint64_t chunks_marked = 0;  // distinct digests they reference
  uint64_t chunks_kept = 0;    // chunk files kept (referenced or too new)
  uint64_t bytes_kept = 0;
  uint64_t chunks_kept_recent = 0;  // of chunks_kept: unreferenced but not before the cutoff
  uint64_t chunks_removed = 0;      // removed (dry run: would be)
  uint64_t bytes_removed = 0;
  uint64_t chunks_missing = 0;  // marked but without a chunk file (run verify)
  uint64_t temp_files_removed = 0;
  uint64_t temp_bytes_removed = 0;
  uint64_t live_locks = 0;
  std::vector<std::string> stale_locks_removed;  // "path: reason"
  std::vector<std::string> orphans_removed;      // snapshot directories
  int64_t cutoff_unix_ns = 0;
  double seconds = 0;
  double mark_seconds = 0;
  double sweep_seconds = 0;
};

// Collects garbage in `repo` as described above. Removes nothing if marking
// fails. Errors: DataLoss naming the file when a manifest or an index cannot
// be read or is corrupt (gc will not guess what a broken snapshot needs: run
// `arca verify`); errors of the file system naming the path (PermissionDenied
// for a read-only repository, Unavailable, ...).
absl::StatusOr<GcStats> RunGc(Repository& repo, const GcOptions& options);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_GC_H_
