// The repository on S3-compatible object storage (docs/formats/repository.md,
// "On object storage"): the same keys as the local layout under
// s3://BUCKET/PREFIX/ —
//
//   PREFIX/config                                   RepositoryConfig as JSON
//   PREFIX/chunks/ab/cd/<sha256 hex>                one blob per chunk
//   PREFIX/chunks/ab/cd/<sha256 hex>.bad            moved aside by verify
//   PREFIX/snapshots/<group>/<time>/metadata.aidx   index files, then
//   PREFIX/snapshots/<group>/<time>/payload.aidx
//   PREFIX/snapshots/<group>/<time>/manifest.json   written last: visibility
//   PREFIX/locks/<start>-<pid>-<random>.lock        running writers
//   PREFIX/locks/<start>-<pid>-<random>.gc-lock     a running gc
//   PREFIX/gc-epoch                                 changed by every gc that removes chunks
//
// Object storage has no rename and no locks, so:
// - chunks are created with a conditional PUT (If-None-Match: *): 412 means
//   the chunk is stored already, which is success for content-addressed data;
// - a snapshot's id is claimed by the conditional PUT of its first index
//   file (412: taken, the nanoseconds are bumped); the manifest is written
//   last, and readers list manifest keys only;
// - forget deletes the manifest first (the snapshot is gone in one step),
//   then its index files;
// - a writer and a gc exclude each other through lock objects: each writes
//   its own lock, then lists the locks, and gives way if the other kind is
//   live (strongly consistent listing, as RGW and AWS S3 have). Objects have
//   no mtime a dedup hit could refresh, so the local gc's concurrent rule
//   (gc.h) cannot be used.
// - the chunk store keeps an index of stored digests (one listing, then this
//   process's own writes and HEAD hits), so a re-backup does not ask per
//   chunk; a digest it lacks is confirmed with a HEAD, since other writers
//   (a second uploader replica) add chunks after the listing; a writer
//   drops it when the gc-epoch object changed since it was built.
//
// Thread-safety: thread-safe, as Repository and ChunkStore require.
#ifndef ARCA_LIBS_STORE_S3_REPOSITORY_H_
#define ARCA_LIBS_STORE_S3_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "arca/v1/repository.pb.h"
#include "libs/s3/s3_client.h"
#include "libs/store/chunk_store.h"
#include "libs/store/repository.h"
#include "libs/store/repository_location.h"

namespace arca {

// A chunk object as gc sees it.
struct ChunkObjectInfo {
  Digest digest;
  uint64_t size = 0;
  int64_t last_modified_unix_ns = 0;
};

class S3ChunkStore final : public ChunkStore {
 public:
  // `client` is not owned and must outlive the store; `prefix` is "" or
  // "PREFIX/"; `display` names the repository in messages.
  S3ChunkStore(s3::S3Client* client, std::string prefix, std::string display);

  // From the index (built by one listing on first use); a digest the index
  // lacks is confirmed with a HEAD (other processes store chunks too).
  absl::StatusOr<bool> Has(const Digest& digest) override;
  // From the index only: no request after the listing.
  absl::StatusOr<bool> HasCheap(const Digest& digest) override;
  // Present in the index: false, no request. Otherwise a conditional PUT.
  absl::StatusOr<bool> Put(const Digest& digest, std::string_view blob) override;
  absl::StatusOr<std::string> Get(const Digest& digest) override;
  // Every PUT is durable when it returns: nothing to do.
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::Status ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) override;
  absl::Status Remove(const Digest& digest) override;
  // Copies the object to "<hex>.bad" and deletes the chunk.
  absl::StatusOr<std::string> MoveAside(const Digest& digest) override;
  // "s3://BUCKET/PREFIX/chunks/ab/cd/<hex>.bad" of every chunk moved aside.
  absl::StatusOr<std::vector<std::string>> ListMovedAside() override;

  // Every chunk object (not .bad ones) with its LastModified, from a listing.
  absl::Status ForEachChunkObject(const std::function<absl::Status(const ChunkObjectInfo&)>& fn);
  // Deletes chunk objects in batches (DeleteObjects) and forgets them in the
  // index.
  absl::Status RemoveChunks(const std::vector<Digest>& digests);
  // Drops the index when `epoch` differs from the one read when it was
  // built (the gc-epoch object); the next Has lists again.
  void CheckEpoch(const std::string& epoch);

  std::string ChunkKey(const Digest& digest) const;
  // How many listings built the index so far (tests).
  uint64_t index_builds() const;

 private:
  absl::Status EnsureIndexLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  s3::S3Client* const client_;
  const std::string prefix_;
  const std::string display_;
  mutable absl::Mutex mu_;
  bool index_built_ ABSL_GUARDED_BY(mu_) = false;
  std::string index_epoch_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Digest> index_ ABSL_GUARDED_BY(mu_);
  uint64_t index_builds_ ABSL_GUARDED_BY(mu_) = 0;
};

class S3Repository final : public Repository {
 public:
  // Creates a repository at `location` (kS3): the bucket must exist and hold
  // no object under the prefix; writes PREFIX/config with a conditional PUT.
  // Errors: FailedPrecondition "s3://B/P already contains an arca
  // repository" / "is not empty"; the client's errors (NotFound for a
  // missing bucket, PermissionDenied, Unavailable).
  static absl::StatusOr<std::unique_ptr<Repository>> Init(
      std::unique_ptr<s3::S3Client> client, const RepositoryLocation& location,
      v1::RepositoryConfig config, const NewRepositoryKey* encryption = nullptr);
  // Opens the repository at `location` (one GET of the config).
  // Errors: NotFound "no arca repository at s3://B/P: run `arca init ...`",
  // NotFound for a missing bucket, PermissionDenied, Unavailable; DataLoss
  // for a config that cannot be parsed.
  static absl::StatusOr<std::unique_ptr<Repository>> Open(std::unique_ptr<s3::S3Client> client,
                                                          const RepositoryLocation& location);

  ChunkStore* chunks() override { return &chunks_; }
  S3ChunkStore* s3_chunks() { return &chunks_; }
  s3::S3Client* client() { return client_.get(); }
  absl::Status ForgetSnapshot(std::string_view id) override;
  absl::StatusOr<uint64_t> FreeBytes() const override { return UINT64_MAX; }
  // Writes a lock object, then lists the locks: Unavailable naming the gc
  // lock when a gc is running (the lock is removed again). Drops the chunk
  // index if a gc removed chunks since it was built.
  absl::StatusOr<std::unique_ptr<WriterLock>> LockForWrite(std::string_view description) override;
  absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocks() override;

  // A running gc, as locks/<...>.gc-lock. Writes it, then lists the other
  // locks: those found stale by `stale_reason` ("" = live) are deleted and
  // reported in `removed_stale` ("key: reason"); if any live writer or other
  // gc remains, the gc lock is removed again and Unavailable names them.
  absl::StatusOr<std::unique_ptr<WriterLock>> LockForGc(
      const std::function<std::string(const WriterLockInfo&)>& stale_reason,
      std::vector<std::string>* removed_stale);
  // Snapshot objects (keys under snapshots/) of ids that have no manifest:
  // left by crashed or failed commits. Invisible to readers; gc deletes them.
  absl::StatusOr<std::vector<s3::ObjectInfo>> ListOrphanSnapshotObjects();
  // Deletes objects by full key (batches).
  absl::Status DeleteKeys(const std::vector<std::string>& keys);
  // Writes a new random gc-epoch: every writer drops its chunk index.
  absl::Status BumpGcEpoch();

 protected:
  absl::StatusOr<std::vector<std::string>> ListSnapshotIds(std::string_view group) override;
  absl::StatusOr<std::string> ReadSnapshotFile(std::string_view id, std::string_view name) override;
  std::string SnapshotFilePath(std::string_view id, std::string_view name) const override;
  absl::StatusOr<bool> WriteSnapshotFiles(std::string_view group, std::string_view time_name,
                                          const std::vector<SnapshotFile>& files) override;
  absl::Status WriteManifest(std::string_view id, std::string_view json) override;
  void AbandonSnapshot(std::string_view id, const std::vector<SnapshotFile>& files) override;
  absl::StatusOr<std::vector<std::string>> ListKeySlotIds() override;
  absl::StatusOr<std::string> ReadKeySlotFile(std::string_view id) override;
  absl::Status WriteKeySlotFile(std::string_view id, std::string_view json) override;
  absl::Status RemoveKeySlotFile(std::string_view id) override;

 private:
  S3Repository(std::unique_ptr<s3::S3Client> client, const RepositoryLocation& location,
               v1::RepositoryConfig config);
  std::string Key(std::string_view rest) const { return prefix_ + std::string(rest); }
  std::string SnapshotKey(std::string_view id, std::string_view name) const;
  absl::StatusOr<std::unique_ptr<WriterLock>> WriteLock(std::string_view suffix,
                                                        std::string_view description);
  absl::StatusOr<std::string> ReadGcEpoch();
  // Lock objects whose key ends with `suffix` (".lock", ".gc-lock"), with
  // their text parsed; path = the full key.
  absl::StatusOr<std::vector<WriterLockInfo>> ListLocks(std::string_view suffix);

  const std::unique_ptr<s3::S3Client> client_;
  const std::string prefix_;  // "" or "PREFIX/"
  S3ChunkStore chunks_;
};

}  // namespace arca

#endif  // ARCA_LIBS_STORE_S3_REPOSITORY_H_
