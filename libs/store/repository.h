// The local arca repository (docs/formats/repository.md):
//
//   REPO/config                               RepositoryConfig as JSON
//   REPO/chunks/ab/cd/<sha256 hex>            one blob per chunk (LocalChunkStore)
//   REPO/snapshots/<group>/<time>/            metadata.aidx, payload.aidx, manifest.json
//   REPO/locks/<start>-<pid>-<random>.lock    running writers
//
// A snapshot is visible exactly when its manifest.json exists; the manifest
// is written last (temp file, fsync, rename, fsync of the directory), after
// every chunk and both index files are durable. So a crash at any point
// leaves a repository whose visible snapshots are complete.
//
// Thread-safety: a Repository is thread-safe. Several processes may write to
// one repository at once: snapshot directories are claimed with mkdir(2) and
// chunks are content-addressed.
#ifndef ARCA_LIBS_STORE_REPOSITORY_H_
#define ARCA_LIBS_STORE_REPOSITORY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/repository.pb.h"
#include "libs/store/chunk_store.h"
#include "libs/store/repository_json.h"
#include "libs/store/snapshot_names.h"
#include "libs/store/writer_lock.h"

namespace arca {

// A snapshot read back by Repository::LoadSnapshot, its index files checked
// against the manifest.
struct LoadedSnapshot {
  v1::Manifest manifest;
  std::string metadata_index;  // bytes of metadata.aidx
  std::string payload_index;   // bytes of payload.aidx
  std::string dir;             // REPO/snapshots/<group>/<time> (a key prefix on S3)
};

// One file written into a new snapshot before its manifest (CommitSnapshot).
struct SnapshotFile {
  v1::StreamKind kind;
  std::string_view name;  // "metadata.aidx" / "payload.aidx"
  std::string_view data;
};

// A repository: its config, its chunk store, its snapshots and its writer
// locks. Two implementations: a local directory (Repository::Init/Open,
// below) and S3-compatible object storage (libs/store/s3_repository.h).
// The snapshot logic every backend shares (listing, resolving, loading with
// checks against the manifest, committing with the manifest last) lives
// here; a backend provides the storage primitives.
class Repository {
 public:
  // Creates a local repository in `dir` (created if missing, with parents):
  // the layout directories, then REPO/config written atomically. `config`
  // carries the chunker parameters, codec and level chosen by the caller;
  // Init sets format_version = 1, repository_id (random 128-bit hex) and
  // created_unix_ns (now).
  // Errors: FailedPrecondition "DIR already contains an arca repository",
  // "DIR is not empty", "DIR is not a directory"; InvalidArgument for
  // inconsistent chunker parameters (min > avg or avg > max); write errors as
  // for ChunkStore::Put.
  static absl::StatusOr<std::unique_ptr<Repository>> Init(const std::string& dir,
                                                          v1::RepositoryConfig config);

  // Opens the local repository in `dir`.
  // Errors: NotFound "no arca repository at DIR: run `arca init --repo DIR`";
  // FailedPrecondition "repository format N is not supported by this arca
  // (supports 1)"; DataLoss naming DIR/config when it cannot be parsed, or
  // when DIR/chunks is missing; PermissionDenied if it cannot be read.
  static absl::StatusOr<std::unique_ptr<Repository>> Open(const std::string& dir,
                                                          LocalChunkStoreOptions options = {});

  virtual ~Repository() = default;

  const v1::RepositoryConfig& config() const { return config_; }
  // The repository as users name it: the directory as given to Init/Open
  // (without trailing '/'), or "s3://BUCKET/PREFIX".
  const std::string& path() const { return path_; }
  // The chunk store (owned by the repository, thread-safe).
  virtual ChunkStore* chunks() = 0;
  // The local chunk store, or null for a repository that is not a local
  // directory.
  virtual LocalChunkStore* local_chunks() { return nullptr; }

  // The snapshot group (directory name) for a source path on a host:
  // readable, file-system-safe and injective over (host, source).
  //   host:   bytes in [A-Za-z0-9.-] are kept (but a leading '.' is %2E, so
  //           the name is never hidden), every other byte is %XX
  //           (upper-case hex);
  //   then:   '_' if the source is absolute (its leading '/' is consumed),
  //           '+' if it is relative;
  //   source: '/' becomes '_', bytes in [A-Za-z0-9.-] are kept, every other
  //           byte (including '_', '%', '+') is %XX.
  // E.g. ("myhost", "/usr/share/doc") → "myhost_usr_share_doc" and
  // ("h", "/a_b") → "h_a%5Fb" vs ("h", "/a/b") → "h_a_b". A name longer than
  // 200 bytes is cut to 160 bytes + '~' + 32 hex of its SHA-256.
  static std::string GroupName(std::string_view host, std::string_view source);

  // Manifests of every visible snapshot (manifest present), oldest first (by
  // time, then id); `group` "" = all groups. Snapshots without a manifest (a
  // backup running or crashed) are skipped.
  // Errors: DataLoss naming the manifest when one cannot be parsed or its id
  // does not match where it is stored; InvalidArgument for a `group` that is
  // not a valid group name.
  absl::StatusOr<std::vector<v1::Manifest>> ListSnapshots(std::string_view group = "");

  // The newest visible snapshot of `group` (by time, then id, as the last of
  // ListSnapshots(group)), reading only the manifests it needs (newest first)
  // instead of all of them; nullopt when the group has none. Errors as
  // ListSnapshots.
  absl::StatusOr<std::optional<v1::Manifest>> NewestSnapshot(std::string_view group);

  // Resolves "<group>/<time>" (as printed by backup), "latest" (newest of
  // all groups) or "<group>/latest" to the id of a visible snapshot.
  // Errors: NotFound "no snapshot 'x' in REPO: run `arca snapshots`" (also
  // for malformed ids); errors of ListSnapshots.
  absl::StatusOr<std::string> ResolveSnapshotId(std::string_view id_or_latest);

  // Reads a snapshot's manifest and both index files and checks each file's
  // size and SHA-256 against the manifest.
  // Errors: as ResolveSnapshotId; DataLoss naming the snapshot and the file
  // for a corrupt manifest, a missing, truncated or modified index file, or
  // a manifest that lists no metadata or payload index.
  absl::StatusOr<LoadedSnapshot> LoadSnapshot(std::string_view id_or_latest);

  // Commits a snapshot. The caller has Put every chunk the indexes reference
  // (CommitSnapshot calls chunks()->Flush() once more, so they are durable).
  // Claims snapshots/<group>/<time>/ (time = manifest.time_unix_ns, or now
  // if 0, as UTC "YYYYMMDDTHHMMSS.nnnnnnnnnZ"; if taken, the nanoseconds are
  // bumped), writes metadata.aidx and payload.aidx durably, then the
  // manifest last. Fills manifest id, group (GroupName(host, sources[0]) if
  // empty), time_unix_ns, format_version, repository_id, and in indexes[] one
  // entry per stream with name, stream, size and sha256 (hex); chunk_count
  // and stream_length given by the caller in its entry for that stream are
  // kept. Returns the manifest as written.
  // Errors: InvalidArgument for an invalid group or a negative time; write
  // errors (ResourceExhausted, PermissionDenied, Unavailable) naming the
  // path. On error no snapshot becomes visible.
  absl::StatusOr<v1::Manifest> CommitSnapshot(v1::Manifest manifest,
                                              std::string_view metadata_index,
                                              std::string_view payload_index);

  // Forgets the visible snapshot `id` ("<group>/<time>" exactly; not
  // "latest"): its record disappears in one step, chunks are never touched
  // (`arca gc` frees the ones no snapshot references). Each backend
  // documents its protocol.
  // Errors: InvalidArgument "'x' is not a snapshot id ..." for anything but
  // <group>/<time>; NotFound "no snapshot 'x' in REPO" when it has no
  // manifest (also an incomplete snapshot, which is left alone, and a
  // snapshot another process forgot first); storage errors naming the
  // snapshot and the path.
  virtual absl::Status ForgetSnapshot(std::string_view id) = 0;

  // Free bytes for the repository's data (local: statvfs f_bavail *
  // f_frsize); UINT64_MAX when the backend has no such limit (object
  // storage).
  virtual absl::StatusOr<uint64_t> FreeBytes() const = 0;

  // sum(bytes_new_stored) / sum(bytes_new_raw) over the newest (up to 10)
  // snapshots that stored new data, looking at no more than the 50 newest
  // snapshots (manifests are read newest first); 1.0 when there are none.
  absl::StatusOr<double> ObservedCompressionRatio();

  // Registers a running writer (a lock file or object holding pid, host,
  // start time and `description`, refreshed every
  // kWriterLockHeartbeatSeconds, removed by the destructor). Garbage
  // collection (gc.h) relies on it; see each backend for the rule.
  // Errors: write errors naming the path; Unavailable when the backend
  // excludes writers right now (a gc running on object storage).
  virtual absl::StatusOr<std::unique_ptr<WriterLock>> LockForWrite(
      std::string_view description) = 0;

  // The writer locks, oldest start first.
  virtual absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocks() = 0;

 protected:
  Repository(std::string path, v1::RepositoryConfig config);

  // Storage primitives of a backend. `id` is "<group>/<time>" with both
  // parts valid names.
  //
  // Ids of the snapshots that may be visible in `group` ("" = every group):
  // every stored <group>/<time> with valid names; ListSnapshots skips those
  // whose manifest turns out to be missing.
  virtual absl::StatusOr<std::vector<std::string>> ListSnapshotIds(std::string_view group) = 0;
  // The bytes of file `name` of snapshot `id`; NotFound when absent.
  virtual absl::StatusOr<std::string> ReadSnapshotFile(std::string_view id,
                                                       std::string_view name) = 0;
  // Where file `name` of snapshot `id` is, for messages and LoadedSnapshot.
  virtual std::string SnapshotFilePath(std::string_view id, std::string_view name) const = 0;
  // Claims `group`/`time_name` and writes `files` under it durably. Returns
  // false (having written nothing) when another snapshot has that id.
  virtual absl::StatusOr<bool> WriteSnapshotFiles(std::string_view group,
                                                  std::string_view time_name,
                                                  const std::vector<SnapshotFile>& files) = 0;
  // Writes the manifest of `id` last, atomically: from then on the snapshot
  // is visible.
  virtual absl::Status WriteManifest(std::string_view id, std::string_view json) = 0;
  // Removes what WriteSnapshotFiles wrote for `id` after a failure
  // (best effort; leftovers are invisible and gc removes them).
  virtual void AbandonSnapshot(std::string_view id, const std::vector<SnapshotFile>& files) = 0;

 private:
  // ResolveSnapshotId; for an explicit id it reads the manifest to check it
  // exists, and hands its bytes to `manifest_json` (when not null).
  absl::StatusOr<std::string> ResolveSnapshot(std::string_view id_or_latest,
                                              std::optional<std::string>* manifest_json);
  // NotFound "no snapshot 'x' in REPO: run `arca snapshots` ...".
  absl::Status NoSnapshot(std::string_view id_or_latest) const;
  // Ids of `group` ("" = all), newest first (time name, then id).
  absl::StatusOr<std::vector<std::string>> SnapshotIdsNewestFirst(std::string_view group);
  // The manifest of a listed id, checked (id, repository); nullopt when it
  // has none (an incomplete snapshot).
  absl::StatusOr<std::optional<v1::Manifest>> ReadListedManifest(const std::string& id);

  const std::string path_;
  const v1::RepositoryConfig config_;
};

// "id" is a snapshot id (<group>/<time> of valid names): the parts, or
// InvalidArgument naming the operation `what`.
absl::Status CheckSnapshotId(std::string_view id, std::string_view what);

// The name of every repository file, as docs/formats/repository.md lists them.
inline constexpr char kRepositoryConfigName[] = "config";
inline constexpr char kManifestName[] = "manifest.json";
inline constexpr char kMetadataIndexName[] = "metadata.aidx";
inline constexpr char kPayloadIndexName[] = "payload.aidx";

// Chunker parameters of a new repository: all zero (defaults) or 0 < min <=
// avg <= max. InvalidArgument naming `what` ("payload") otherwise.
absl::Status ValidateChunkerParams(const v1::ChunkerParams& params, std::string_view what);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_REPOSITORY_H_
