#include "libs/store/gc.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <span>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/status_macros.h"
#include "libs/store/file_io.h"
#include "libs/store/s3_repository.h"

namespace arca {
namespace {

constexpr absl::string_view kForgetPrefix = ".forget-";
constexpr char kManifestFile[] = "manifest.json";

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The later of mtime and ctime: a rename (forget's ".forget-*") changes only
// the ctime of the directory it moves.
int64_t ChangeNs(const struct stat& st) {
  const int64_t m = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  const int64_t c = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return std::max(m, c);
}

// Sorted, distinct digests: a buffer of new digests is sorted and merged into
// the set whenever it outgrows it, so memory stays within ~3 × 32 bytes per
// distinct digest whatever the number of snapshots.
class DigestSet {
 public:
  void Add(const Digest& d) {
    pending_.push_back(d);
    if (pending_.size() >= std::max<size_t>(sorted_.size(), 1 << 16)) Merge();
  }
  void Merge() {
    if (pending_.empty()) return;
    std::sort(pending_.begin(), pending_.end());
    pending_.erase(std::unique(pending_.begin(), pending_.end()), pending_.end());
    std::vector<Digest> merged;
    merged.reserve(sorted_.size() + pending_.size());
    std::set_union(sorted_.begin(), sorted_.end(), pending_.begin(), pending_.end(),
                   std::back_inserter(merged));
    sorted_.swap(merged);
    pending_.clear();
    pending_.shrink_to_fit();
  }
  // After Merge().
  bool Contains(const Digest& d) const {
    return std::binary_search(sorted_.begin(), sorted_.end(), d);
  }
  size_t size() const { return sorted_.size(); }

 private:
  std::vector<Digest> sorted_;
  std::vector<Digest> pending_;
};

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Removes (or counts) temp files directly in `dir` older than the cutoff.
// With `lock_temps_host` (REPO/locks/), also a lock's temp file of any age
// whose writer is gone from this host (WriterLockTempDeadReason).
absl::Status SweepTempFilesIn(const std::string& dir, const std::string& repo, int64_t cutoff,
                              bool dry_run, GcStats* stats,
                              const std::string* lock_temps_host = nullptr) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(dir, repo));
  for (const std::string& n : names) {
    if (!absl::StartsWith(n, kTempPrefix)) continue;
    const std::string path = absl::StrCat(dir, "/", n);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (ChangeNs(st) >= cutoff &&
        (lock_temps_host == nullptr || WriterLockTempDeadReason(n, *lock_temps_host).empty())) {
      continue;
    }
    if (!dry_run && ::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoStatus(errno, "remove temp file", path, repo, true);
    }
    stats->temp_files_removed++;
    stats->temp_bytes_removed += static_cast<uint64_t>(st.st_size);
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path, const std::string& repo) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), "remove orphan snapshot directory", path, repo, true);
  }
  return absl::OkStatus();
}

// Orphan snapshot directories (no manifest.json, or ".forget-*" leftovers)
// older than the cutoff; temp files inside committed snapshot directories.
absl::Status SweepSnapshotDirs(const std::string& repo, int64_t cutoff, bool dry_run,
                               GcStats* stats) {
  const std::string snapshots = absl::StrCat(repo, "/snapshots");
  ASSIGN_OR_RETURN(std::vector<std::string> groups, ListDirNames(snapshots, repo));
  for (const std::string& g : groups) {
    if (!IsValidGroupName(g)) continue;
    const std::string gdir = absl::StrCat(snapshots, "/", g);
    ASSIGN_OR_RETURN(std::vector<std::string> times, ListDirNames(gdir, repo));
    for (const std::string& t : times) {
      const bool forgotten = absl::StartsWith(t, kForgetPrefix);
      if (!forgotten && !IsValidSnapshotTimeName(t)) continue;
      const std::string dir = absl::StrCat(gdir, "/", t);
      struct stat st;
      if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      const std::string manifest = absl::StrCat(dir, "/", kManifestFile);
      struct stat mst;
      const bool committed = !forgotten && ::lstat(manifest.c_str(), &mst) == 0;
      if (committed) {
        RETURN_IF_ERROR(SweepTempFilesIn(dir, repo, cutoff, dry_run, stats));
        continue;
      }
      // A backup committing right now created its directory after its lock.
      if (ChangeNs(st) >= cutoff) continue;
      if (!dry_run) RETURN_IF_ERROR(RemoveTree(dir, repo));
      stats->orphans_removed.push_back(dir);
    }
  }
  return absl::OkStatus();
}

// False when snapshot `id` was forgotten since it was listed (its manifest
// is gone), on every backend.
bool SnapshotStillThere(Repository& repo, const std::string& id) {
  return !absl::IsNotFound(repo.ResolveSnapshotId(id).status());
}

// Mark: every digest in both index files of every committed snapshot.
absl::Status MarkAll(Repository& repo, DigestSet* marked, GcStats* stats) {
  ASSIGN_OR_RETURN(std::vector<v1::Manifest> manifests, repo.ListSnapshots());
  for (const v1::Manifest& m : manifests) {
    absl::StatusOr<LoadedSnapshot> loaded = repo.LoadSnapshot(m.id());
    // Forgotten since it was listed (`arca forget` renames the directory
    // away, or deletes the manifest first): nothing to keep for it.
    if (!loaded.ok() && !SnapshotStillThere(repo, m.id())) continue;
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("gc stopped before removing anything: ",
                                       loaded.status().message(), "; run `arca verify`"));
    }
    for (const auto& [bytes, kind, name] :
         {std::tuple(&loaded->metadata_index, v1::STREAM_KIND_METADATA, "metadata.aidx"),
          std::tuple(&loaded->payload_index, v1::STREAM_KIND_PAYLOAD, "payload.aidx")}) {
      absl::StatusOr<ChunkIndex> index =
          ChunkIndex::Decode(Bytes(*bytes), kind, absl::StrCat(m.id(), "/", name));
      if (!index.ok()) {
        return absl::Status(index.status().code(),
                            absl::StrCat("gc stopped before removing anything: ",
                                         index.status().message(), "; run `arca verify`"));
      }
      for (const IndexEntry& e : index->entries()) marked->Add(e.digest);
    }
    stats->snapshots++;
  }
  marked->Merge();
  stats->chunks_marked = marked->size();
  return absl::OkStatus();
}

// gc on object storage (s3_repository.h): exclusive instead of the mtime
// rule. It holds a gc lock while it runs (no writer can start; it refuses to
// start beside a live writer), so every unreferenced chunk and every
// snapshot object without a manifest is garbage. A dry run takes no lock and
// removes nothing.
absl::StatusOr<GcStats> RunObjectStoreGc(S3Repository& repo, const GcOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  GcStats stats;
  const int64_t now = options.now_unix_ns != 0 ? options.now_unix_ns : NowUnixNs();
  const std::string host = options.host.empty() ? WriterLockHostName() : options.host;
  auto stale_reason = [&](const WriterLockInfo& lock) {
    return WriterLockStaleReason(lock, host, now, options.stale_lock_ns);
  };
  std::unique_ptr<WriterLock> gc_lock;
  if (options.dry_run) {
    ASSIGN_OR_RETURN(std::vector<WriterLockInfo> locks, repo.ListWriterLocks());
    for (const WriterLockInfo& lock : locks) {
      const std::string why = stale_reason(lock);
      if (why.empty()) {
        stats.live_locks++;
      } else {
        stats.stale_locks_removed.push_back(absl::StrCat(lock.path, ": ", why));
      }
    }
  } else {
    ASSIGN_OR_RETURN(gc_lock, repo.LockForGc(stale_reason, &stats.stale_locks_removed));
  }
  stats.cutoff_unix_ns = now;

  const auto mark_start = std::chrono::steady_clock::now();
  DigestSet marked;
  RETURN_IF_ERROR(MarkAll(repo, &marked, &stats));
  stats.mark_seconds = SecondsSince(mark_start);

  const auto sweep_start = std::chrono::steady_clock::now();
  S3ChunkStore* store = repo.s3_chunks();
  uint64_t present_marked = 0;
  std::vector<Digest> garbage;
  RETURN_IF_ERROR(store->ForEachChunkObject([&](const ChunkObjectInfo& c) -> absl::Status {
    if (marked.Contains(c.digest)) {
      present_marked++;
      stats.chunks_kept++;
      stats.bytes_kept += c.size;
      return absl::OkStatus();
    }
    garbage.push_back(c.digest);
    stats.chunks_removed++;
    stats.bytes_removed += c.size;
    return absl::OkStatus();
  }));
  stats.chunks_missing =
      stats.chunks_marked - std::min<uint64_t>(present_marked, stats.chunks_marked);
  ASSIGN_OR_RETURN(std::vector<s3::ObjectInfo> orphans, repo.ListOrphanSnapshotObjects());
  if (!options.dry_run) {
    // Writers drop their chunk index before they trust it again.
    if (!garbage.empty()) RETURN_IF_ERROR(repo.BumpGcEpoch());
    RETURN_IF_ERROR(store->RemoveChunks(garbage));
    std::vector<std::string> keys;
    for (const s3::ObjectInfo& o : orphans) keys.push_back(o.key);
    RETURN_IF_ERROR(repo.DeleteKeys(keys));
  }
  absl::flat_hash_set<std::string> orphan_dirs;
  for (const s3::ObjectInfo& o : orphans) {
    const std::string dir =
        absl::StrCat("s3://", repo.client()->bucket(), "/", o.key.substr(0, o.key.rfind('/')));
    if (orphan_dirs.insert(dir).second) stats.orphans_removed.push_back(dir);
  }
  stats.sweep_seconds = SecondsSince(sweep_start);
  stats.seconds = SecondsSince(t0);
  return stats;
}

}  // namespace

absl::StatusOr<GcStats> RunGc(Repository& repo, const GcOptions& options) {
  if (auto* s3 = dynamic_cast<S3Repository*>(&repo); s3 != nullptr) {
    return RunObjectStoreGc(*s3, options);
  }
  if (repo.local_chunks() == nullptr) {
    return absl::UnimplementedError(absl::StrCat("gc does not know the backend of ", repo.path()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& path = repo.path();
  GcStats stats;
  const int64_t now = options.now_unix_ns != 0 ? options.now_unix_ns : NowUnixNs();
  const std::string host = options.host.empty() ? WriterLockHostName() : options.host;

  // 1. Locks: drop the stale ones, T = the oldest live writer's start.
  int64_t t = now;
  ASSIGN_OR_RETURN(std::vector<WriterLockInfo> locks, repo.ListWriterLocks());
  for (const WriterLockInfo& lock : locks) {
    const std::string why = WriterLockStaleReason(lock, host, now, options.stale_lock_ns);
    if (why.empty()) {
      stats.live_locks++;
      t = std::min(t, lock.start_unix_ns);
      continue;
    }
    if (!options.dry_run && ::unlink(lock.path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "remove stale lock", lock.path, path, true);
    }
    stats.stale_locks_removed.push_back(absl::StrCat(lock.path, ": ", why));
  }
  const int64_t cutoff = t - options.clock_slack_ns;
  stats.cutoff_unix_ns = cutoff;

  // 2. Mark: after the locks were read, so a writer that was not live then
  // has either committed already (listed here) or started after T.
  const auto mark_start = std::chrono::steady_clock::now();
  DigestSet marked;
  RETURN_IF_ERROR(MarkAll(repo, &marked, &stats));
  stats.mark_seconds = SecondsSince(mark_start);

  // 3. Sweep the chunks.
  const auto sweep_start = std::chrono::steady_clock::now();
  LocalChunkStore* store = repo.local_chunks();
  uint64_t present_marked = 0;
  RETURN_IF_ERROR(store->ForEachChunkFile([&](const ChunkFileInfo& f) -> absl::Status {
    if (marked.Contains(f.digest)) {
      present_marked++;
    } else if (f.mtime_unix_ns >= cutoff) {
      stats.chunks_kept_recent++;
    } else {
      bool removed = true;
      if (!options.dry_run) {
        ASSIGN_OR_RETURN(removed, store->RemoveChunkIfOlder(f.digest, cutoff));
      }
      if (removed) {
        stats.chunks_removed++;
        stats.bytes_removed += f.size;
        return absl::OkStatus();
      }
      stats.chunks_kept_recent++;  // refreshed by a writer just now
    }
    stats.chunks_kept++;
    stats.bytes_kept += f.size;
    return absl::OkStatus();
  }));
  stats.chunks_missing =
      stats.chunks_marked - std::min<uint64_t>(present_marked, stats.chunks_marked);

  // 4. Temp files and orphan snapshot directories.
  ASSIGN_OR_RETURN(TempSweep chunk_temps, store->RemoveTempFilesOlderThan(cutoff, options.dry_run));
  stats.temp_files_removed += chunk_temps.files;
  stats.temp_bytes_removed += chunk_temps.bytes;
  // A lock's temp file exists before the lock is visible (and REPO/.tmp-* is
  // not a writer's at all): only a writer stuck longer than the stale-lock
  // limit can lose it, and then it fails to register instead of writing.
  // A lock temp file named for a process of this host that is gone goes at
  // any age, as its lock would (WriterLockTempName); old-style names and
  // other hosts' wait for the limit.
  const int64_t lock_temp_cutoff = std::min(cutoff, now - options.stale_lock_ns);
  RETURN_IF_ERROR(SweepTempFilesIn(path, path, lock_temp_cutoff, options.dry_run, &stats));
  RETURN_IF_ERROR(SweepTempFilesIn(absl::StrCat(path, "/locks"), path, lock_temp_cutoff,
                                   options.dry_run, &stats, &host));
  RETURN_IF_ERROR(SweepSnapshotDirs(path, cutoff, options.dry_run, &stats));
  stats.sweep_seconds = SecondsSince(sweep_start);
  stats.seconds = SecondsSince(t0);
  return stats;
}

}  // namespace arca
