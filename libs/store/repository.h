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
#include "libs/blob/sealed_blob.h"
#include "libs/crypto/repository_key.h"
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

// What unlocks an encrypted repository: a password (tried against every
// password slot) or a key file (its own slot). Empty: nothing given.
struct RepositorySecret {
  std::optional<std::string> password;
  std::optional<KeyFileSecret> key_file;
  bool empty() const { return !password.has_value() && !key_file.has_value(); }
};

// The key of a new encrypted repository and its first slot (Init).
struct NewRepositoryKey {
  RepositoryKey key;
  v1::KeySlot slot;  // slot.repository_id() becomes the repository's id
};

// Makes the key and first slot of a new encrypted repository with id
// `repository_id` from `secret` (a password: scrypt with `params`; a key
// file: its slot). InvalidArgument for an empty secret or password.
absl::StatusOr<NewRepositoryKey> MakeNewRepositoryKey(std::string_view repository_id,
                                                      const RepositorySecret& secret,
                                                      const ScryptParams& params,
                                                      std::string_view label);

// A new random repository id (32 lower-case hex digits).
std::string NewRepositoryId();

// The config a backup chunks with: as stored, except that an encrypted
// repository's chunker_seed comes from the key (RepositoryKey::ChunkerSeed;
// the stored config says 0). `key` may hold only the id key. With
// encryption but no key: the stored config (callers check for the key
// before chunking; the uploader refuses ids that are not keyed).
v1::RepositoryConfig ChunkingConfig(const v1::RepositoryConfig& stored, const RepositoryKey* key);

// Fills the fields Init sets in a new repository's config: created time;
// format_version 1 and a random repository_id, or with `encryption`
// format_version 2, the slot's repository_id and chunker_seed 0 (the gear
// table then comes from the key). InvalidArgument when config.encryption()
// and `encryption` disagree or name an unsupported cipher.
absl::Status PrepareNewConfig(v1::RepositoryConfig* config, const NewRepositoryKey* encryption);

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
  //
  // With `encryption` (config.encryption() must then be "aes-256-gcm"), the
  // repository is encrypted: format_version 2, repository_id taken from the
  // slot, the slot written to REPO/keys/ before the config, and the returned
  // repository is unlocked with the key.
  static absl::StatusOr<std::unique_ptr<Repository>> Init(
      const std::string& dir, v1::RepositoryConfig config,
      const NewRepositoryKey* encryption = nullptr);

  // Opens the local repository in `dir`.
  // Errors: NotFound "no arca repository at DIR: run `arca init --repo DIR`";
  // FailedPrecondition "repository format N is not supported by this arca
  // (supports 1)"; DataLoss naming DIR/config when it cannot be parsed, or
  // when DIR/chunks is missing; PermissionDenied if it cannot be read.
  static absl::StatusOr<std::unique_ptr<Repository>> Open(const std::string& dir,
                                                          LocalChunkStoreOptions options = {});

  virtual ~Repository() = default;

  const v1::RepositoryConfig& config() const { return config_; }

  // --- encryption (docs/formats/encryption.md) ---------------------------
  // True when the repository is encrypted (config.encryption set).
  bool encrypted() const { return !config_.encryption().empty(); }
  // The master key once unlocked (or created by Init); null for a
  // plaintext repository and for an encrypted one not unlocked. Every blob
  // of an encrypted repository is sealed with it, every chunk id keyed.
  const RepositoryKey* key() const { return key_.has_value() ? &*key_ : nullptr; }
  // Unlocks an encrypted repository with `secret`. Call before sharing the
  // repository between threads. OK at once for a plaintext repository.
  // Errors: FailedPrecondition "R is encrypted: give its password ..." for
  // an empty secret; PermissionDenied "the password opens none of the N
  // password slots of R" / "the key file's slot X is not in R"; DataLoss
  // for a corrupt slot that the secret names; read errors.
  absl::Status Unlock(const RepositorySecret& secret);
  // Installs a key known to be this repository's (tests, Init).
  void SetKey(RepositoryKey key) { key_ = std::move(key); }
  // The key slots, by id. DataLoss naming a slot that does not parse.
  absl::StatusOr<std::vector<v1::KeySlot>> ListKeySlots();
  // Stores a new slot (made with key() by MakePasswordSlot/MakeKeyFileSlot).
  // FailedPrecondition if the repository is not encrypted or not unlocked,
  // or a slot with that id exists; InvalidArgument if the slot does not
  // open with key() (it would lock users out).
  absl::Status AddKeySlot(const v1::KeySlot& slot);
  // Removes slot `id`. NotFound if absent; FailedPrecondition if it is the
  // last slot (the repository would be unreadable forever) or the slot that
  // unlocked this handle (unlock with another key to remove it).
  absl::Status RemoveKeySlot(std::string_view id);
  // The slot Unlock opened ("" when none, e.g. after Init or SetKey).
  const std::string& unlocked_slot_id() const { return unlocked_slot_id_; }

  // What can be checked of an encrypted repository without its key: the
  // clear frame (header, lengths, CRC32Cs, content kind) of every file of
  // every visible snapshot. Appends one line per problem to `problems`
  // (naming the file) and returns how many files were checked. Errors:
  // listing or read errors other than a missing file.
  absl::StatusOr<uint64_t> CheckSnapshotFrames(std::vector<std::string>* problems);
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
  // Key slot records (REPO/keys/<id>): ids present, one's bytes (NotFound
  // when absent), a new one (FailedPrecondition if the id exists), removal
  // (NotFound when absent).
  virtual absl::StatusOr<std::vector<std::string>> ListKeySlotIds() = 0;
  virtual absl::StatusOr<std::string> ReadKeySlotFile(std::string_view id) = 0;
  virtual absl::Status WriteKeySlotFile(std::string_view id, std::string_view json) = 0;
  virtual absl::Status RemoveKeySlotFile(std::string_view id) = 0;

 private:
  // A snapshot file's bytes as written: opened with the key in an
  // encrypted repository (its kind and name are bound by the seal).
  absl::StatusOr<std::string> ReadSnapshotPlain(std::string_view id, std::string_view name,
                                                SealedKind kind);
  // Sealed for `id`/`name` in an encrypted repository; as given otherwise.
  std::string SealSnapshotFile(std::string_view id, std::string_view name, SealedKind kind,
                               std::string_view data) const;
  // FailedPrecondition naming `what` unless the key is present (or the
  // repository is plaintext).
  absl::Status RequireKey(std::string_view what) const;
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
  std::optional<RepositoryKey> key_;
  std::string unlocked_slot_id_;
};

// "id" is a snapshot id (<group>/<time> of valid names): the parts, or
// InvalidArgument naming the operation `what`.
absl::Status CheckSnapshotId(std::string_view id, std::string_view what);

// The name of every repository file, as docs/formats/repository.md lists them.
inline constexpr char kRepositoryConfigName[] = "config";
inline constexpr char kManifestName[] = "manifest.json";
inline constexpr char kMetadataIndexName[] = "metadata.aidx";
inline constexpr char kPayloadIndexName[] = "payload.aidx";
inline constexpr char kKeysDirName[] = "keys";


// Chunker parameters of a new repository: all zero (defaults) or 0 < min <=
// avg <= max. InvalidArgument naming `what` ("payload") otherwise.
absl::Status ValidateChunkerParams(const v1::ChunkerParams& params, std::string_view what);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_REPOSITORY_H_
