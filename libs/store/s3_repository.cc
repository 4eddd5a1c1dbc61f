#include "libs/store/s3_repository.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/status_macros.h"
#include "libs/store/chunk_file_name.h"
#include "libs/store/file_io.h"
#include "libs/store/repository_json.h"
#include "libs/store/snapshot_names.h"

namespace arca {
namespace {

constexpr char kGcEpochName[] = "gc-epoch";
constexpr char kWriterLockSuffix[] = ".lock";
constexpr char kGcLockSuffix[] = ".gc-lock";

std::string S(std::string_view v) { return std::string(v); }

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string PrefixOf(const RepositoryLocation& location) {
  return location.prefix.empty() ? "" : location.prefix + "/";
}

}  // namespace

// ---------------------------------------------------------------------------
// S3ChunkStore.

S3ChunkStore::S3ChunkStore(s3::S3Client* client, std::string prefix, std::string display)
    : client_(client), prefix_(std::move(prefix)), display_(std::move(display)) {}

std::string S3ChunkStore::ChunkKey(const Digest& digest) const {
  const std::string hex = digest.Hex();
  return absl::StrCat(prefix_, "chunks/", hex.substr(0, 2), "/", hex.substr(2, 2), "/", hex);
}

absl::Status S3ChunkStore::EnsureIndexLocked() {
  if (index_built_) return absl::OkStatus();
  absl::StatusOr<std::string> epoch = client_->GetObject(prefix_ + kGcEpochName);
  if (!epoch.ok() && !absl::IsNotFound(epoch.status())) return epoch.status();
  absl::flat_hash_set<Digest> index;
  RETURN_IF_ERROR(ForEach([&index](const Digest& d, uint64_t) {
    index.insert(d);
    return absl::OkStatus();
  }));
  index_ = std::move(index);
  index_epoch_ = epoch.ok() ? *epoch : "";
  index_built_ = true;
  index_builds_++;
  return absl::OkStatus();
}

void S3ChunkStore::CheckEpoch(const std::string& epoch) {
  absl::MutexLock l(&mu_);
  if (index_built_ && epoch != index_epoch_) {
    index_built_ = false;
    index_.clear();
  }
}

uint64_t S3ChunkStore::index_builds() const {
  absl::MutexLock l(&mu_);
  return index_builds_;
}

absl::StatusOr<bool> S3ChunkStore::Has(const Digest& digest) {
  {
    absl::MutexLock l(&mu_);
    RETURN_IF_ERROR(EnsureIndexLocked());
    if (index_.contains(digest)) return true;
  }
  // Not in the index: another process (a second uploader replica, a
  // concurrent backup) may have stored it since the listing. Ask.
  absl::StatusOr<s3::ObjectInfo> info = client_->HeadObject(ChunkKey(digest));
  if (absl::IsNotFound(info.status())) return false;
  if (!info.ok()) return info.status();
  absl::MutexLock l(&mu_);
  index_.insert(digest);
  return true;
}

absl::StatusOr<bool> S3ChunkStore::HasCheap(const Digest& digest) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(EnsureIndexLocked());
  return index_.contains(digest);
}

absl::StatusOr<bool> S3ChunkStore::Put(const Digest& digest, std::string_view blob) {
  {
    absl::MutexLock l(&mu_);
    RETURN_IF_ERROR(EnsureIndexLocked());
    if (index_.contains(digest)) return false;
  }
  // 412 (false): stored by someone else meanwhile, which is as good.
  ASSIGN_OR_RETURN(bool created, client_->PutObject(ChunkKey(digest), blob, true));
  absl::MutexLock l(&mu_);
  index_.insert(digest);
  return created;
}

absl::StatusOr<std::string> S3ChunkStore::Get(const Digest& digest) {
  absl::StatusOr<std::string> blob = client_->GetObject(ChunkKey(digest));
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(absl::StrCat("chunk ", digest.Hex(), " is missing from ", display_,
                                            " (object ", ChunkKey(digest), ")"));
  }
  return blob;
}

absl::Status S3ChunkStore::ForEachChunkObject(
    const std::function<absl::Status(const ChunkObjectInfo&)>& fn) {
  const std::string chunks_prefix = prefix_ + "chunks/";
  return client_->ListAll(chunks_prefix, [&](const s3::ObjectInfo& o) -> absl::Status {
    // chunks/ab/cd/<hex>: the layout's leaf name after the last '/'.
    const std::string_view key = o.key;
    const size_t slash = key.rfind('/');
    const ChunkFileName name =
        ParseChunkFileName(slash == std::string_view::npos ? key : key.substr(slash + 1));
    if (name.kind != ChunkFileKind::kChunk) return absl::OkStatus();
    if (key != ChunkKey(name.digest)) return absl::OkStatus();  // not where it belongs
    return fn(ChunkObjectInfo{name.digest, o.size, o.last_modified_unix_ns});
  });
}

absl::Status S3ChunkStore::ForEach(const std::function<absl::Status(const Digest&, uint64_t)>& fn) {
  return ForEachChunkObject([&fn](const ChunkObjectInfo& c) { return fn(c.digest, c.size); });
}

absl::Status S3ChunkStore::Remove(const Digest& digest) {
  ASSIGN_OR_RETURN(s3::ObjectInfo info, client_->HeadObject(ChunkKey(digest)));
  (void)info;
  RETURN_IF_ERROR(client_->DeleteObject(ChunkKey(digest)));
  absl::MutexLock l(&mu_);
  index_.erase(digest);
  return absl::OkStatus();
}

absl::Status S3ChunkStore::RemoveChunks(const std::vector<Digest>& digests) {
  std::vector<std::string> keys;
  keys.reserve(digests.size());
  for (const Digest& d : digests) keys.push_back(ChunkKey(d));
  absl::Status st = client_->DeleteObjects(keys);
  absl::MutexLock l(&mu_);
  for (const Digest& d : digests) index_.erase(d);
  return st;
}

absl::StatusOr<std::string> S3ChunkStore::MoveAside(const Digest& digest) {
  const std::string key = ChunkKey(digest);
  absl::StatusOr<std::string> blob = client_->GetObject(key);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(absl::StrCat("chunk ", digest.Hex(), " is not in ", display_,
                                            " (moved aside by another reader?)"));
  }
  if (!blob.ok()) return blob.status();
  const std::string bad = key + ".bad";
  RETURN_IF_ERROR(client_->PutObject(bad, *blob, false).status());
  RETURN_IF_ERROR(client_->DeleteObject(key));
  {
    absl::MutexLock l(&mu_);
    index_.erase(digest);
  }
  return absl::StrCat("s3://", client_->bucket(), "/", bad);
}

absl::StatusOr<std::vector<std::string>> S3ChunkStore::ListMovedAside() {
  std::vector<std::string> out;
  RETURN_IF_ERROR(client_->ListAll(prefix_ + "chunks/", [&](const s3::ObjectInfo& o) {
    const size_t slash = o.key.rfind('/');
    const ChunkFileName name =
        ParseChunkFileName(slash == std::string::npos ? std::string_view(o.key)
                                                      : std::string_view(o.key).substr(slash + 1));
    if (name.kind == ChunkFileKind::kBad && o.key == ChunkKey(name.digest) + ".bad") {
      out.push_back(absl::StrCat("s3://", client_->bucket(), "/", o.key));
    }
    return absl::OkStatus();
  }));
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// S3Repository: open and init.

S3Repository::S3Repository(std::unique_ptr<s3::S3Client> client, const RepositoryLocation& location,
                           v1::RepositoryConfig config)
    : Repository(location.Display(), std::move(config)),
      client_(std::move(client)),
      prefix_(PrefixOf(location)),
      chunks_(client_.get(), prefix_, location.Display()) {}

absl::StatusOr<std::unique_ptr<Repository>> S3Repository::Init(
    std::unique_ptr<s3::S3Client> client, const RepositoryLocation& location,
    v1::RepositoryConfig config, const NewRepositoryKey* encryption) {
  const std::string display = location.Display();
  const std::string prefix = PrefixOf(location);
  RETURN_IF_ERROR(ValidateChunkerParams(config.payload_chunker(), "payload"));
  RETURN_IF_ERROR(ValidateChunkerParams(config.metadata_chunker(), "metadata"));
  RETURN_IF_ERROR(client->HeadBucket());
  ASSIGN_OR_RETURN(s3::ListPage page, client->ListObjects(prefix, "", "", 1));
  if (!page.objects.empty()) {
    for (const s3::ObjectInfo& o : page.objects) {
      if (o.key == prefix + kRepositoryConfigName) {
        return absl::FailedPreconditionError(absl::StrCat(
            display, " already contains an arca repository: use it with --repo ", display));
      }
    }
    return absl::FailedPreconditionError(
        absl::StrCat(display, " is not empty (object ", page.objects[0].key,
                     "): choose a new bucket or prefix for the repository"));
  }
  RETURN_IF_ERROR(PrepareNewConfig(&config, encryption));
  if (encryption != nullptr) {
    // The slot before the config: a repository that exists can be unlocked.
    ASSIGN_OR_RETURN(std::string slot_json, KeySlotToJson(encryption->slot));
    RETURN_IF_ERROR(
        client->PutObject(absl::StrCat(prefix, "keys/", encryption->slot.id()), slot_json, true)
            .status());
  }
  ASSIGN_OR_RETURN(std::string json, RepositoryConfigToJson(config));
  ASSIGN_OR_RETURN(bool created, client->PutObject(prefix + kRepositoryConfigName, json, true));
  if (!created) {
    return absl::FailedPreconditionError(absl::StrCat(
        display, " already contains an arca repository (another init won): use it with --repo ",
        display));
  }
  std::unique_ptr<Repository> repo(new S3Repository(std::move(client), location, config));
  if (encryption != nullptr) repo->SetKey(encryption->key);
  return repo;
}

// ---------------------------------------------------------------------------
// Key slots: PREFIX/keys/<id>.

absl::StatusOr<std::vector<std::string>> S3Repository::ListKeySlotIds() {
  std::vector<std::string> ids;
  const std::string dir = Key("keys/");
  RETURN_IF_ERROR(client_->ListAll(dir, [&](const s3::ObjectInfo& o) {
    std::string_view name = std::string_view(o.key).substr(dir.size());
    if (name.size() == 16 && name.find('/') == std::string_view::npos) ids.emplace_back(name);
    return absl::OkStatus();
  }));
  return ids;
}

absl::StatusOr<std::string> S3Repository::ReadKeySlotFile(std::string_view id) {
  return client_->GetObject(Key(absl::StrCat("keys/", S(id))));
}

absl::Status S3Repository::WriteKeySlotFile(std::string_view id, std::string_view json) {
  const std::string key = Key(absl::StrCat("keys/", S(id)));
  ASSIGN_OR_RETURN(bool created, client_->PutObject(key, json, true));
  if (!created) {
    return absl::FailedPreconditionError(absl::StrCat("key slot ", key, " exists already"));
  }
  return absl::OkStatus();
}

absl::Status S3Repository::RemoveKeySlotFile(std::string_view id) {
  const std::string key = Key(absl::StrCat("keys/", S(id)));
  absl::StatusOr<s3::ObjectInfo> head = client_->HeadObject(key);
  if (!head.ok()) return head.status();
  return client_->DeleteObject(key);
}

absl::StatusOr<std::unique_ptr<Repository>> S3Repository::Open(std::unique_ptr<s3::S3Client> client,
                                                               const RepositoryLocation& location) {
  const std::string display = location.Display();
  const std::string key = PrefixOf(location) + kRepositoryConfigName;
  absl::StatusOr<std::string> json = client->GetObject(key);
  if (absl::IsNotFound(json.status())) {
    // A missing bucket is NotFound too: HEAD it to say which.
    RETURN_IF_ERROR(client->HeadBucket());
    return absl::NotFoundError(absl::StrCat("no arca repository at ", display, " (",
                                            client->Describe(), "): run `arca init --repo ",
                                            display, "`"));
  }
  if (!json.ok()) return json.status();
  ASSIGN_OR_RETURN(v1::RepositoryConfig config,
                   RepositoryConfigFromJson(*json, absl::StrCat(display, "/config")));
  return std::unique_ptr<Repository>(new S3Repository(std::move(client), location, config));
}

// ---------------------------------------------------------------------------
// Snapshots.

std::string S3Repository::SnapshotKey(std::string_view id, std::string_view name) const {
  return name.empty() ? absl::StrCat(prefix_, "snapshots/", S(id), "/")
                      : absl::StrCat(prefix_, "snapshots/", S(id), "/", S(name));
}

std::string S3Repository::SnapshotFilePath(std::string_view id, std::string_view name) const {
  const std::string key = SnapshotKey(id, name);
  return absl::StrCat("s3://", client_->bucket(), "/",
                      name.empty() ? key.substr(0, key.size() - 1) : key);
}

absl::StatusOr<std::vector<std::string>> S3Repository::ListSnapshotIds(std::string_view group) {
  const std::string list_prefix = group.empty()
                                      ? absl::StrCat(prefix_, "snapshots/")
                                      : absl::StrCat(prefix_, "snapshots/", S(group), "/");
  const std::string base = absl::StrCat(prefix_, "snapshots/");
  const std::string manifest_suffix = absl::StrCat("/", kManifestName);
  std::vector<std::string> ids;
  RETURN_IF_ERROR(client_->ListAll(list_prefix, [&](const s3::ObjectInfo& o) {
    // Readers see manifests only: snapshots/<group>/<time>/manifest.json.
    if (!absl::EndsWith(o.key, manifest_suffix)) return absl::OkStatus();
    const std::string id =
        o.key.substr(base.size(), o.key.size() - base.size() - manifest_suffix.size());
    const size_t slash = id.find('/');
    if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos) {
      return absl::OkStatus();
    }
    if (IsValidGroupName(std::string_view(id).substr(0, slash)) &&
        IsValidSnapshotTimeName(std::string_view(id).substr(slash + 1))) {
      ids.push_back(id);
    }
    return absl::OkStatus();
  }));
  return ids;
}

absl::StatusOr<std::string> S3Repository::ReadSnapshotFile(std::string_view id,
                                                           std::string_view name) {
  return client_->GetObject(SnapshotKey(id, name));
}

absl::StatusOr<bool> S3Repository::WriteSnapshotFiles(std::string_view group,
                                                      std::string_view time_name,
                                                      const std::vector<SnapshotFile>& files) {
  const std::string id = absl::StrCat(S(group), "/", S(time_name));
  std::vector<SnapshotFile> written;
  for (const SnapshotFile& f : files) {
    // The first conditional PUT claims the id; 412 there means another
    // snapshot has it.
    absl::StatusOr<bool> created = client_->PutObject(SnapshotKey(id, f.name), f.data, true);
    if (!created.ok()) {
      AbandonSnapshot(id, written);
      return created.status();
    }
    if (!*created) {
      AbandonSnapshot(id, written);
      return false;
    }
    written.push_back(f);
  }
  return true;
}

absl::Status S3Repository::WriteManifest(std::string_view id, std::string_view json) {
  const std::string key = SnapshotKey(id, kManifestName);
  ASSIGN_OR_RETURN(bool created, client_->PutObject(key, json, true));
  if (created) return absl::OkStatus();
  // 412: a retried PUT of ours that had succeeded, or a stranger.
  ASSIGN_OR_RETURN(std::string present, client_->GetObject(key));
  if (present == json) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "snapshot ", S(id), ": another manifest exists at ", SnapshotFilePath(id, kManifestName),
      "; two writers claimed one snapshot id: run `arca verify`"));
}

void S3Repository::AbandonSnapshot(std::string_view id, const std::vector<SnapshotFile>& files) {
  std::vector<std::string> keys;
  for (const SnapshotFile& f : files) keys.push_back(SnapshotKey(id, f.name));
  if (!keys.empty()) (void)client_->DeleteObjects(keys);  // leftovers: gc removes them
}

absl::Status S3Repository::ForgetSnapshot(std::string_view id) {
  RETURN_IF_ERROR(CheckSnapshotId(id, "forget"));
  absl::StatusOr<s3::ObjectInfo> manifest = client_->HeadObject(SnapshotKey(id, kManifestName));
  if (absl::IsNotFound(manifest.status())) {
    return absl::NotFoundError(
        absl::StrCat("no snapshot '", S(id), "' in ", path(), ": run `arca snapshots`"));
  }
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(),
                        absl::StrCat("forget snapshot ", S(id), ": ", manifest.status().message()));
  }
  // The manifest first: from then on the snapshot is gone for every reader.
  if (absl::Status st = client_->DeleteObject(SnapshotKey(id, kManifestName)); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("forget snapshot ", S(id), ": ", st.message()));
  }
  // The index files are garbage now; a failure leaves orphans gc removes.
  std::vector<std::string> keys;
  (void)client_->ListAll(SnapshotKey(id, ""), [&keys](const s3::ObjectInfo& o) {
    keys.push_back(o.key);
    return absl::OkStatus();
  });
  if (!keys.empty()) (void)client_->DeleteObjects(keys);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<s3::ObjectInfo>> S3Repository::ListOrphanSnapshotObjects() {
  const std::string base = absl::StrCat(prefix_, "snapshots/");
  const std::string manifest_suffix = absl::StrCat("/", kManifestName);
  std::vector<s3::ObjectInfo> all;
  absl::flat_hash_set<std::string> with_manifest;
  RETURN_IF_ERROR(client_->ListAll(base, [&](const s3::ObjectInfo& o) {
    const size_t slash = o.key.rfind('/');
    const std::string dir = o.key.substr(0, slash);
    if (absl::EndsWith(o.key, manifest_suffix)) with_manifest.insert(dir);
    all.push_back(o);
    return absl::OkStatus();
  }));
  std::vector<s3::ObjectInfo> orphans;
  for (s3::ObjectInfo& o : all) {
    if (!with_manifest.contains(o.key.substr(0, o.key.rfind('/')))) orphans.push_back(std::move(o));
  }
  return orphans;
}

absl::Status S3Repository::DeleteKeys(const std::vector<std::string>& keys) {
  if (keys.empty()) return absl::OkStatus();
  return client_->DeleteObjects(keys);
}

// ---------------------------------------------------------------------------
// Locks.

absl::StatusOr<std::string> S3Repository::ReadGcEpoch() {
  absl::StatusOr<std::string> epoch = client_->GetObject(Key(kGcEpochName));
  if (absl::IsNotFound(epoch.status())) return std::string();
  return epoch;
}

absl::Status S3Repository::BumpGcEpoch() {
  return client_->PutObject(Key(kGcEpochName), absl::StrCat(RandomHex16(), RandomHex16()), false)
      .status();
}

absl::StatusOr<std::unique_ptr<WriterLock>> S3Repository::WriteLock(std::string_view suffix,
                                                                    std::string_view description) {
  const int64_t start = NowUnixNs();
  const int64_t pid = ::getpid();
  const std::string key =
      absl::StrCat(prefix_, "locks/", start, "-", pid, "-", RandomHex16(), S(suffix));
  const std::string text = FormatWriterLockText(pid, WriterLockHostName(), start, description);
  RETURN_IF_ERROR(client_->PutObject(key, text, false).status());
  s3::S3Client* client = client_.get();
  const std::string shown = absl::StrCat("s3://", client_->bucket(), "/", key);
  WriterLockOps ops;
  ops.path = shown;
  ops.held = [client, key, shown]() -> absl::Status {
    absl::StatusOr<s3::ObjectInfo> info = client->HeadObject(key);
    if (info.ok()) return absl::OkStatus();
    if (!absl::IsNotFound(info.status())) return info.status();
    return absl::AbortedError(absl::StrCat(
        "lock ", shown, " was removed (a gc found it stale: no heartbeat for ",
        kWriterLockStaleSeconds / 60,
        " minutes?); chunks this backup relied on may have been collected: run the backup again"));
  };
  ops.refresh = [client, key, text, held = ops.held]() -> absl::Status {
    RETURN_IF_ERROR(held());  // never recreate a lock a gc removed
    return client->PutObject(key, text, false).status();
  };
  ops.release = [client, key] { (void)client->DeleteObject(key); };
  return std::make_unique<WriterLock>(std::move(ops), start);
}

absl::StatusOr<std::vector<WriterLockInfo>> S3Repository::ListLocks(std::string_view suffix) {
  std::vector<s3::ObjectInfo> objects;
  RETURN_IF_ERROR(client_->ListAll(Key("locks/"), [&](const s3::ObjectInfo& o) {
    if (absl::EndsWith(o.key, S(suffix))) objects.push_back(o);
    return absl::OkStatus();
  }));
  std::vector<WriterLockInfo> out;
  for (const s3::ObjectInfo& o : objects) {
    WriterLockInfo info;
    info.path = o.key;
    info.start_unix_ns = o.last_modified_unix_ns;
    info.heartbeat_unix_ns = o.last_modified_unix_ns;
    absl::StatusOr<std::string> text = client_->GetObject(o.key);
    if (absl::IsNotFound(text.status())) continue;  // released meanwhile
    if (!text.ok()) return text.status();
    ParseWriterLockText(*text, &info);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const WriterLockInfo& a, const WriterLockInfo& b) {
    return a.start_unix_ns < b.start_unix_ns;
  });
  return out;
}

absl::StatusOr<std::vector<WriterLockInfo>> S3Repository::ListWriterLocks() {
  return ListLocks(kWriterLockSuffix);
}

absl::StatusOr<std::unique_ptr<WriterLock>> S3Repository::LockForWrite(
    std::string_view description) {
  ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> lock, WriteLock(kWriterLockSuffix, description));
  ASSIGN_OR_RETURN(std::vector<WriterLockInfo> gcs, ListLocks(kGcLockSuffix));
  const std::string host = WriterLockHostName();
  const int64_t now = NowUnixNs();
  for (const WriterLockInfo& gc : gcs) {
    if (!WriterLockStaleReason(gc, host, now, kWriterLockStaleSeconds * 1000000000ll).empty()) {
      continue;  // a gc that died; the next gc removes its lock
    }
    return absl::UnavailableError(absl::StrCat(
        "a gc is running on ", path(), " (lock s3://", client_->bucket(), "/", gc.path, ", pid ",
        gc.pid, " on ", gc.host,
        "): on object storage backups and gc exclude each other; retry when it has ended"));
  }
  ASSIGN_OR_RETURN(std::string epoch, ReadGcEpoch());
  chunks_.CheckEpoch(epoch);
  return lock;
}

absl::StatusOr<std::unique_ptr<WriterLock>> S3Repository::LockForGc(
    const std::function<std::string(const WriterLockInfo&)>& stale_reason,
    std::vector<std::string>* removed_stale) {
  ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> lock, WriteLock(kGcLockSuffix, "gc"));
  const std::string own = lock->path();
  std::vector<std::string> live;
  for (const char* suffix : {kWriterLockSuffix, kGcLockSuffix}) {
    ASSIGN_OR_RETURN(std::vector<WriterLockInfo> locks, ListLocks(suffix));
    for (const WriterLockInfo& l : locks) {
      const std::string shown = absl::StrCat("s3://", client_->bucket(), "/", l.path);
      if (shown == own) continue;
      const std::string why = stale_reason(l);
      if (why.empty()) {
        live.push_back(absl::StrCat(shown, " (pid ", l.pid, " on ", l.host, ": ",
                                    absl::CHexEscape(l.description), ")"));
        continue;
      }
      RETURN_IF_ERROR(client_->DeleteObject(l.path));
      removed_stale->push_back(absl::StrCat(shown, ": ", why));
    }
  }
  if (!live.empty()) {
    return absl::UnavailableError(absl::StrCat(
        live.size(), " writer(s) hold ", path(), ": ", absl::StrJoin(live, "; "),
        ". On object storage gc needs the repository to itself (objects have no mtime a backup "
        "could refresh): run gc when they have ended"));
  }
  return lock;
}

}  // namespace arca
