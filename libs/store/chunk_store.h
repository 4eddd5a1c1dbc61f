// Content-addressed chunk storage: the ChunkStore interface and its
// implementations (local directory, in-memory, fault-injecting decorator).
//
// A chunk is stored as one opaque blob (an encoded blob file, see
// docs/formats/blob.md) under the SHA-256 digest of its plaintext. The store
// never interprets the blob: it does not check that the digest matches.
//
// Thread-safety: every implementation is thread-safe; the pipeline calls Put
// from several threads at once.
#ifndef ARCA_LIBS_STORE_CHUNK_STORE_H_
#define ARCA_LIBS_STORE_CHUNK_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/hash/digest.h"

namespace arca {

class ChunkStore {
 public:
  virtual ~ChunkStore() = default;

  // True if a chunk is stored under `digest` (including one Put but not yet
  // Flush()ed). LocalChunkStore also marks a found chunk as just used (its
  // mtime), which garbage collection relies on (gc.h).
  // Errors: PermissionDenied/Unavailable naming the path.
  virtual absl::StatusOr<bool> Has(const Digest& digest) = 0;

  // A cheap Has for deduplication before compressing a new chunk: true means
  // stored (as Has, with its side effects), false may be wrong when the
  // answer would cost a round trip (object storage: a chunk another writer
  // stored after this process listed the store); the following Put then
  // finds it. The default is Has.
  virtual absl::StatusOr<bool> HasCheap(const Digest& digest) { return Has(digest); }

  // Stores `blob` under `digest` unless a chunk with that digest is already
  // present. Returns true if the blob was written by this call, false if it
  // was present (or another thread's concurrent Put of the same digest
  // succeeded). A reader never sees a partial blob. Durable once Flush()
  // returns. Errors: ResourceExhausted (no space, names the path),
  // PermissionDenied "the repository at X is not writable: ...",
  // Unavailable (transient, retry) naming the path.
  virtual absl::StatusOr<bool> Put(const Digest& digest, std::string_view blob) = 0;

  // The blob stored under `digest`. NotFound "chunk <hex> is missing from
  // <store>"; DataLoss if it cannot be read (I/O error).
  virtual absl::StatusOr<std::string> Get(const Digest& digest) = 0;

  // Makes every Put that returned before this call durable (and visible under
  // its final name, if the implementation batches). Errors as for Put.
  virtual absl::Status Flush() = 0;

  // Calls `fn` once for every stored chunk with its digest and stored size
  // (bytes of the blob), in no particular order; stops at and returns the
  // first non-OK status of `fn`. Files that are not valid chunk names (temp
  // files) are ignored. Chunks Put or Removed during the call may or may not
  // be reported.
  virtual absl::Status ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) = 0;

  // Deletes the chunk (for gc and tests). NotFound if absent.
  virtual absl::Status Remove(const Digest& digest) = 0;

  // Self-healing: the blob stored under `digest` failed verification (CRC32C,
  // decompression, SHA-256 or length); moves it aside so that from now on Has
  // says absent and the next Put of that digest stores the content again,
  // while the damaged bytes are kept for inspection. Returns where it went
  // (for messages). NotFound if absent (e.g. moved aside by another reader);
  // Unimplemented for stores that cannot (the default).
  virtual absl::StatusOr<std::string> MoveAside(const Digest& digest) {
    return absl::UnimplementedError(
        absl::StrCat("this chunk store cannot move chunk ", digest.Hex(), " aside"));
  }

  // Where every chunk moved aside by MoveAside is now (paths or URLs), sorted;
  // empty for stores that cannot move chunks aside (the default).
  virtual absl::StatusOr<std::vector<std::string>> ListMovedAside() {
    return std::vector<std::string>();
  }
};

struct LocalChunkStoreOptions {
  // Flush() durability: false (default) = syncfs(2) of the file system before
  // and after renaming the batch into place; true = fdatasync(2) of every blob
  // inside Put (several threads sync in parallel) and fsync(2) of every
  // directory touched by the batch. See README.md for the measurements behind
  // the default.
  bool per_file_fsync = false;
  // Put calls Flush() itself once the blobs written but not yet flushed
  // exceed this many bytes, bounding the work a crash can lose.
  uint64_t max_pending_bytes = 256ull << 20;
  // Open() removes temp files (".tmp-*", left by a crash) older than
  // stale_temp_age_seconds when this is true. Off by default: it reads every
  // directory of the store; `RemoveStaleTempFiles` does the same on demand.
  // `arca gc` removes them by its own cutoff (RemoveTempFilesOlderThan).
  bool remove_stale_temp_files_on_open = false;
  int64_t stale_temp_age_seconds = 24 * 3600;
};

// A chunk file as garbage collection sees it (LocalChunkStore::ForEachChunkFile).
struct ChunkFileInfo {
  Digest digest;
  uint64_t size = 0;          // bytes of the blob
  int64_t mtime_unix_ns = 0;  // last write, or last dedup hit (Has/Put refresh it)
};

// What a temp-file sweep found (LocalChunkStore::RemoveTempFilesOlderThan).
struct TempSweep {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Chunks as files in a local directory (REPO/chunks):
//   <dir>/ab/cd/<64 lower-case hex digest>   (ab, cd = first two digest bytes)
// Put writes the blob to "<dir>/ab/cd/.tmp-<random>" (O_EXCL); Flush makes
// every pending temp file durable (syncfs, or per-file fdatasync), renames it
// to its digest name and makes the renames durable (a second syncfs, or an
// fsync of each directory touched). So a chunk name never exists without
// durable bytes, and a crash leaves only temp files, which every reader
// ignores. The 256×256 directories are created on demand.
//
// Garbage collection (gc.h): Has and a Put that finds its digest present set
// the chunk file's mtime to now (utimensat; the existence check and the
// refresh are one system call), so every chunk a writer relies on is at least
// as new as the writer. RemoveChunkIfOlder removes a chunk only if no writer
// refreshed it since the cutoff, also against a refresh racing the removal.
class LocalChunkStore final : public ChunkStore {
 public:
  // Opens the store in `dir`, which must exist (NotFound otherwise, and
  // FailedPrecondition if it is not a directory).
  static absl::StatusOr<std::unique_ptr<LocalChunkStore>> Open(const std::string& dir,
                                                               LocalChunkStoreOptions options = {});
  // Pending (unflushed) temp files are removed, not published: call Flush()
  // first to keep them.
  ~LocalChunkStore() override;

  absl::StatusOr<bool> Has(const Digest& digest) override;
  absl::StatusOr<bool> Put(const Digest& digest, std::string_view blob) override;
  absl::StatusOr<std::string> Get(const Digest& digest) override;
  absl::Status Flush() override;
  absl::Status ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) override;
  absl::Status Remove(const Digest& digest) override;

  // Removes temp files (names starting ".tmp-") whose mtime is more than
  // `min_age_seconds` old, left by crashed writers; this process's pending
  // files are never removed. Returns how many were removed. The age guards
  // another process's backup that is still writing.
  absl::StatusOr<uint64_t> RemoveStaleTempFiles(int64_t min_age_seconds);

  // Temp files (".tmp-*") with an mtime before `cutoff_unix_ns`, except this
  // process's pending ones: counted, and removed unless `dry_run`.
  absl::StatusOr<TempSweep> RemoveTempFilesOlderThan(int64_t cutoff_unix_ns, bool dry_run);

  // Calls `fn` for every published chunk file with its size and mtime, one
  // "ab/cd" directory at a time, in no particular order; stops at the first
  // error of `fn`. Pending chunks are not reported. A ".gc-<hex>" file left
  // by a gc that crashed mid-removal is first renamed back to its chunk name
  // (or removed if the chunk exists again), so it is reported like any chunk.
  absl::Status ForEachChunkFile(const std::function<absl::Status(const ChunkFileInfo&)>& fn);

  // Removes the chunk file of `digest` unless its mtime is at or after
  // `cutoff_unix_ns`. Race-free against Has/Put of other processes: the file
  // is first renamed to ".gc-<hex>" (from then on Has says absent and a
  // writer stores the chunk again), then its mtime is read once more: if a
  // writer refreshed it before the rename it is renamed back (kept),
  // otherwise unlinked. Returns true if removed, false if kept or absent.
  // Errors of rename/unlink/stat naming the path.
  absl::StatusOr<bool> RemoveChunkIfOlder(const Digest& digest, int64_t cutoff_unix_ns);

  // Renames "<dir>/ab/cd/<hex>" to "<dir>/ab/cd/<hex>.bad" (replacing an
  // older .bad of the same digest) and returns the new path. Every reader,
  // ForEach, ForEachChunkFile and so gc ignore .bad files; gc leaves them
  // (docs/formats/repository.md, "Damaged chunks"). NotFound if absent.
  absl::StatusOr<std::string> MoveAside(const Digest& digest) override;
  // The paths of ListBadChunks().
  absl::StatusOr<std::vector<std::string>> ListMovedAside() override;

  // A chunk file moved aside by MoveAside.
  struct BadChunkFile {
    Digest digest;
    std::string path;
    uint64_t size = 0;
    int64_t mtime_unix_ns = 0;  // when it was moved aside (rename keeps the mtime: last use)
  };
  // Every "<hex>.bad" file of the store, sorted by digest.
  absl::StatusOr<std::vector<BadChunkFile>> ListBadChunks();

  // "<dir>/ab/cd/<hex>".
  std::string ChunkPath(const Digest& digest) const;
  const std::string& dir() const { return dir_; }

 private:
  struct Pending {
    std::string temp_path;
    uint64_t size = 0;
  };

  LocalChunkStore(std::string dir, LocalChunkStoreOptions options);
  // Creates <dir>/ab and <dir>/ab/cd if needed (cached).
  absl::Status EnsureDirs(const Digest& digest);
  std::string LeafDir(const Digest& digest) const;
  // Present under its final name? Refreshes the file's mtime when it is
  // (see the class comment).
  absl::StatusOr<bool> HasFinal(const Digest& digest);
  absl::Status WriteTemp(const std::string& temp_path, std::string_view blob);
  // syncfs(2) of the file system holding dir_.
  absl::Status SyncFileSystem();
  // Publishes the pending entries in `batch` (already durable).
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);

  const std::string dir_;
  const std::string repo_;  // for messages: the repository directory
  const LocalChunkStoreOptions options_;

  absl::Mutex flush_mu_;  // serialises Flush; acquired before mu_
  absl::Mutex mu_;
  absl::CondVar in_flight_done_;
  // Written to temp files, not yet renamed.
  absl::flat_hash_map<Digest, Pending> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Digests some thread is writing right now (Put waits for it).
  absl::flat_hash_set<Digest> in_flight_ ABSL_GUARDED_BY(mu_);
  // Directories known to exist: bit (a*256+b) for <dir>/a/b, 65536+a for <dir>/a.
  std::vector<bool> dir_exists_ ABSL_GUARDED_BY(mu_);
  // Directories whose entries changed since the last Flush (mkdir of a child).
  absl::flat_hash_set<std::string> dirty_dirs_ ABSL_GUARDED_BY(mu_);
};

// Chunks in a hash map; Flush does nothing. For tests and embedded use.
class MemoryChunkStore final : public ChunkStore {
 public:
  MemoryChunkStore() = default;

  absl::StatusOr<bool> Has(const Digest& digest) override;
  absl::StatusOr<bool> Put(const Digest& digest, std::string_view blob) override;
  absl::StatusOr<std::string> Get(const Digest& digest) override;
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::Status ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) override;
  absl::Status Remove(const Digest& digest) override;
  // Keeps the blob in a separate map (bad_chunks()).
  absl::StatusOr<std::string> MoveAside(const Digest& digest) override;

  // Replaces a stored blob (tests: simulate corruption). NotFound if absent.
  absl::Status Corrupt(const Digest& digest, std::string blob);
  // Digests moved aside.
  std::vector<Digest> bad_chunks();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<Digest, std::string> chunks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Digest, std::string> bad_ ABSL_GUARDED_BY(mu_);
};

// Decorator that forwards to `base` (not owned, must outlive it) and fails
// chosen calls with a chosen status, for tests of error paths
// (LevelDB FaultInjectionTestEnv). Failed calls do not reach `base`.
class FaultInjectionChunkStore final : public ChunkStore {
 public:
  explicit FaultInjectionChunkStore(ChunkStore* base);

  // The (n+1)-th Put call (counting from construction) and every later one
  // fail with `status`.
  void FailPutsAfter(int n, absl::Status status);
  // Every Get of `digest` fails with `status`.
  void FailGet(const Digest& digest, absl::Status status);
  // Every Flush fails with `status`.
  void FailFlush(absl::Status status);
  // Every Has fails with `status`.
  void FailHas(absl::Status status);
  // Removes every injected fault (counters are kept).
  void ClearFaults();

  // Calls made so far (including failed ones).
  uint64_t puts() const;
  uint64_t gets() const;
  uint64_t flushes() const;

  absl::StatusOr<bool> Has(const Digest& digest) override;
  absl::StatusOr<bool> Put(const Digest& digest, std::string_view blob) override;
  absl::StatusOr<std::string> Get(const Digest& digest) override;
  absl::Status Flush() override;
  absl::Status ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) override;
  absl::Status Remove(const Digest& digest) override;
  absl::StatusOr<std::vector<std::string>> ListMovedAside() override {
    return base_->ListMovedAside();
  }
  absl::StatusOr<bool> HasCheap(const Digest& digest) override;
  absl::StatusOr<std::string> MoveAside(const Digest& digest) override;

 private:
  ChunkStore* const base_;
  mutable absl::Mutex mu_;
  uint64_t puts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gets_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t fail_puts_after_ ABSL_GUARDED_BY(mu_) = -1;  // -1: never
  absl::Status put_status_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Digest, absl::Status> get_faults_ ABSL_GUARDED_BY(mu_);
  absl::Status flush_status_ ABSL_GUARDED_BY(mu_);
  absl::Status has_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arca

#endif  // ARCA_LIBS_STORE_CHUNK_STORE_H_
