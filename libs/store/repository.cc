#include "libs/store/repository.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"
#include "libs/hash/digest.h"
#include "libs/store/file_io.h"

namespace arca {
namespace {

std::string S(std::string_view v) { return std::string(v); }

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string StripTrailingSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string RandomId128() { return absl::StrCat(RandomHex16(), RandomHex16()); }

// 16 lower-case hex digits: never a path component with '/' or "..".
bool IsKeySlotName(std::string_view id) {
  if (id.size() != 16) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string SnapshotAad(std::string_view id, std::string_view name) {
  return absl::StrCat("snapshots/", S(id), "/", S(name));
}

SealedKind KindOfIndex(v1::StreamKind kind) {
  return kind == v1::STREAM_KIND_METADATA ? SealedKind::kMetadataIndex : SealedKind::kPayloadIndex;
}

// The repository in a local directory (repository.h, top).
//
// Commit: snapshots/<group>/<time>/ is claimed with mkdir(2) (atomic across
// processes), the index files are written durably, the new directory
// entries are synced, then manifest.json is written last (temp, fsync,
// rename, fsync of the directory).
//
// Forget: rename(snapshots/<group>/<time>,
// snapshots/<group>/.forget-<time>-<16 hex>), fsync of the group directory
// (from here on the snapshot is gone for every reader, also after a crash),
// then the hidden directory is deleted. A crash or an error while deleting
// leaves the hidden directory, which every reader ignores and gc removes;
// such an error is not reported (the snapshot is forgotten). The group
// directory stays, even when empty (a backup may be creating a snapshot in
// it).
//
// Locks: REPO/locks/<start>-<pid>-<random>.lock, whose mtime is the
// heartbeat; gc's rule is in gc.h.
class LocalRepository final : public Repository {
 public:
  LocalRepository(std::string path, v1::RepositoryConfig config,
                  std::unique_ptr<LocalChunkStore> chunks)
      : Repository(std::move(path), std::move(config)), chunks_(std::move(chunks)) {}

  ChunkStore* chunks() override { return chunks_.get(); }
  LocalChunkStore* local_chunks() override { return chunks_.get(); }
  absl::Status ForgetSnapshot(std::string_view id) override;
  std::string KeysDir() const { return absl::StrCat(path(), "/", kKeysDirName); }
  absl::StatusOr<uint64_t> FreeBytes() const override {
    struct statvfs vfs;
    if (::statvfs(path().c_str(), &vfs) != 0) {
      return ErrnoStatus(errno, "statvfs", path(), path(), false);
    }
    return static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  }
  absl::StatusOr<std::unique_ptr<WriterLock>> LockForWrite(std::string_view description) override {
    return CreateWriterLock(path(), description);
  }
  absl::StatusOr<std::vector<WriterLockInfo>> ListWriterLocks() override {
    return ListWriterLocksIn(path());
  }

 protected:
  absl::StatusOr<std::vector<std::string>> ListSnapshotIds(std::string_view group) override;
  absl::StatusOr<std::string> ReadSnapshotFile(std::string_view id,
                                               std::string_view name) override {
    return ReadWholeFile(SnapshotFilePath(id, name), path());
  }
  std::string SnapshotFilePath(std::string_view id, std::string_view name) const override {
    return name.empty() ? absl::StrCat(path(), "/snapshots/", S(id))
                        : absl::StrCat(path(), "/snapshots/", S(id), "/", S(name));
  }
  absl::StatusOr<bool> WriteSnapshotFiles(std::string_view group, std::string_view time_name,
                                          const std::vector<SnapshotFile>& files) override;
  absl::Status WriteManifest(std::string_view id, std::string_view json) override {
    return WriteFileAtomically(SnapshotFilePath(id, ""), kManifestName,
                               absl::string_view(json.data(), json.size()), path(), 0444);
  }
  absl::StatusOr<std::vector<std::string>> ListKeySlotIds() override {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(KeysDir(), path()));
    std::vector<std::string> ids;
    for (std::string& n : names) {
      if (!n.empty() && n[0] != '.') ids.push_back(std::move(n));
    }
    return ids;
  }
  absl::StatusOr<std::string> ReadKeySlotFile(std::string_view id) override {
    if (!IsKeySlotName(id)) return absl::NotFoundError(absl::StrCat("no key slot ", S(id)));
    return ReadWholeFile(absl::StrCat(KeysDir(), "/", S(id)), path());
  }
  absl::Status WriteKeySlotFile(std::string_view id, std::string_view json) override {
    if (::mkdir(KeysDir().c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "create directory", KeysDir(), path(), true);
    }
    const std::string file = absl::StrCat(KeysDir(), "/", S(id));
    if (::access(file.c_str(), F_OK) == 0) {
      return absl::FailedPreconditionError(absl::StrCat("key slot ", file, " exists already"));
    }
    return WriteFileAtomically(KeysDir(), S(id), absl::string_view(json.data(), json.size()),
                               path(), 0400);
  }
  absl::Status RemoveKeySlotFile(std::string_view id) override {
    const std::string file = absl::StrCat(KeysDir(), "/", S(id));
    if (!IsKeySlotName(id) || ::unlink(file.c_str()) != 0) {
      if (!IsKeySlotName(id) || errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat("no key slot ", file));
      }
      return ErrnoStatus(errno, "remove", file, path(), true);
    }
    return SyncDirectory(KeysDir(), path());
  }
  void AbandonSnapshot(std::string_view id, const std::vector<SnapshotFile>& files) override {
    for (const SnapshotFile& f : files) ::unlink(SnapshotFilePath(id, f.name).c_str());
    ::rmdir(SnapshotFilePath(id, "").c_str());
  }

 private:
  const std::unique_ptr<LocalChunkStore> chunks_;
};

}  // namespace

absl::Status ValidateChunkerParams(const v1::ChunkerParams& p, std::string_view what) {
  if (p.min_size() == 0 && p.avg_size() == 0 && p.max_size() == 0) {
    return absl::OkStatus();  // unset: the chunker's defaults
  }
  if (p.min_size() == 0 || p.min_size() > p.avg_size() || p.avg_size() > p.max_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(S(what), " chunker sizes must satisfy 0 < min <= avg <= max, got min ",
                     p.min_size(), ", avg ", p.avg_size(), ", max ", p.max_size()));
  }
  return absl::OkStatus();
}

absl::Status CheckSnapshotId(std::string_view id, std::string_view what) {
  const size_t slash = id.find('/');
  const std::string_view group = slash == std::string_view::npos ? "" : id.substr(0, slash);
  const std::string_view time = slash == std::string_view::npos ? "" : id.substr(slash + 1);
  if (!IsValidGroupName(group) || !IsValidSnapshotTimeName(time)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(S(id)), "' is not a snapshot id: ", S(what),
                     " takes GROUP/TIME as printed by `arca snapshots`"));
  }
  return absl::OkStatus();
}

std::string Repository::GroupName(std::string_view host, std::string_view source) {
  return SnapshotGroupName(host, source);
}

Repository::Repository(std::string path, v1::RepositoryConfig config)
    : path_(std::move(path)), config_(std::move(config)) {}

// ---------------------------------------------------------------------------
// Local Init / Open.

absl::StatusOr<std::unique_ptr<Repository>> Repository::Init(const std::string& dir_in,
                                                             v1::RepositoryConfig config,
                                                             const NewRepositoryKey* encryption) {
  const std::string dir = StripTrailingSlashes(dir_in);
  RETURN_IF_ERROR(ValidateChunkerParams(config.payload_chunker(), "payload"));
  RETURN_IF_ERROR(ValidateChunkerParams(config.metadata_chunker(), "metadata"));
  RETURN_IF_ERROR(PrepareNewConfig(&config, encryption));
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir,
                       " is not a directory: choose a new or empty directory "
                       "for the repository"));
    }
    if (Exists(absl::StrCat(dir, "/", kRepositoryConfigName))) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " already contains an arca repository: use it with --repo ", dir));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(dir, dir));
    if (!names.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is not empty: choose a new or empty directory for the repository"));
    }
  } else if (errno == ENOENT) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoStatus(ec.value(), "create directory", dir, dir, true);
  } else {
    return ErrnoStatus(errno, "stat", dir, dir, false);
  }

  for (const char* sub : {"chunks", "snapshots", "locks", "keys"}) {
    const std::string p = absl::StrCat(dir, "/", sub);
    if (::mkdir(p.c_str(), sub == std::string_view("keys") ? 0700 : 0755) != 0 &&
        errno != EEXIST) {
      return ErrnoStatus(errno, "create directory", p, dir, true);
    }
  }
  if (encryption != nullptr) {
    ASSIGN_OR_RETURN(std::string slot_json, KeySlotToJson(encryption->slot));
    RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(dir, "/", kKeysDirName),
                                        encryption->slot.id(), slot_json, dir, 0400));
  }
  ASSIGN_OR_RETURN(std::string json, RepositoryConfigToJson(config));
  // The config is written last: its presence marks a complete repository.
  RETURN_IF_ERROR(WriteFileAtomically(dir, kRepositoryConfigName, json, dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Repository> repo, Open(dir));
  if (encryption != nullptr) repo->SetKey(encryption->key);
  return repo;
}

absl::StatusOr<std::unique_ptr<Repository>> Repository::Open(const std::string& dir_in,
                                                             LocalChunkStoreOptions options) {
  const std::string dir = StripTrailingSlashes(dir_in);
  const std::string config_path = absl::StrCat(dir, "/", kRepositoryConfigName);
  auto no_repository = [&] {
    return absl::NotFoundError(
        absl::StrCat("no arca repository at ", dir, ": run `arca init --repo ", dir, "`"));
  };
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return no_repository();
    return ErrnoStatus(errno, "stat", dir, dir, false);
  }
  if (!S_ISDIR(st.st_mode)) return no_repository();
  absl::StatusOr<std::string> json = ReadWholeFile(config_path, dir);
  if (absl::IsNotFound(json.status())) return no_repository();
  if (!json.ok()) return json.status();
  ASSIGN_OR_RETURN(v1::RepositoryConfig config, RepositoryConfigFromJson(*json, config_path));
  absl::StatusOr<std::unique_ptr<LocalChunkStore>> chunks =
      LocalChunkStore::Open(absl::StrCat(dir, "/chunks"), options);
  if (absl::IsNotFound(chunks.status()) || absl::IsFailedPrecondition(chunks.status())) {
    return absl::DataLossError(
        absl::StrCat("the repository at ", dir, " is damaged: ", chunks.status().message()));
  }
  if (!chunks.ok()) return chunks.status();
  return std::unique_ptr<Repository>(
      new LocalRepository(dir, std::move(config), std::move(*chunks)));
}

// ---------------------------------------------------------------------------
// Snapshots (every backend).

absl::StatusOr<std::optional<v1::Manifest>> Repository::ReadListedManifest(const std::string& id) {
  const std::string mpath = SnapshotFilePath(id, kManifestName);
  absl::StatusOr<std::string> json = ReadSnapshotPlain(id, kManifestName, SealedKind::kManifest);
  if (absl::IsNotFound(json.status())) return std::nullopt;  // incomplete snapshot
  if (!json.ok()) return json.status();
  ASSIGN_OR_RETURN(v1::Manifest m, ManifestFromJson(*json, mpath));
  if (m.id() != id) {
    return absl::DataLossError(absl::StrCat("manifest ", mpath, " is corrupt: it names snapshot '",
                                            absl::CHexEscape(m.id()), "' but is stored as '", id,
                                            "'"));
  }
  if (!m.repository_id().empty() && m.repository_id() != config_.repository_id()) {
    return absl::DataLossError(absl::StrCat("manifest ", mpath, " belongs to repository ",
                                            absl::CHexEscape(m.repository_id()), ", not to ", path_,
                                            " (", config_.repository_id(),
                                            "); it was copied from another repository"));
  }
  return m;
}

absl::StatusOr<std::vector<std::string>> Repository::SnapshotIdsNewestFirst(
    std::string_view group) {
  if (!group.empty() && !IsValidGroupName(group)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(S(group)), "' is not a snapshot group name"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> ids, ListSnapshotIds(group));
  // A time name sorts as its time; ties (two groups) by id, as ListSnapshots.
  auto time_of = [](const std::string& id) {
    return std::string_view(id).substr(id.find('/') + 1);
  };
  std::sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
    if (time_of(a) != time_of(b)) return time_of(a) > time_of(b);
    return a > b;
  });
  return ids;
}

absl::StatusOr<std::vector<v1::Manifest>> Repository::ListSnapshots(std::string_view group) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, SnapshotIdsNewestFirst(group));
  std::vector<v1::Manifest> out;
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    ASSIGN_OR_RETURN(std::optional<v1::Manifest> m, ReadListedManifest(*it));
    if (m.has_value()) out.push_back(*std::move(m));
  }
  std::stable_sort(out.begin(), out.end(), [](const v1::Manifest& a, const v1::Manifest& b) {
    if (a.time_unix_ns() != b.time_unix_ns()) {
      return a.time_unix_ns() < b.time_unix_ns();
    }
    return a.id() < b.id();
  });
  return out;
}

absl::StatusOr<std::optional<v1::Manifest>> Repository::NewestSnapshot(std::string_view group) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, SnapshotIdsNewestFirst(group));
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(std::optional<v1::Manifest> m, ReadListedManifest(id));
    if (m.has_value()) return m;
  }
  return std::nullopt;
}

absl::Status Repository::NoSnapshot(std::string_view id_or_latest) const {
  return absl::NotFoundError(absl::StrCat("no snapshot '", absl::CHexEscape(S(id_or_latest)),
                                          "' in ", path_, ": run `arca snapshots --repo ", path_,
                                          "` to list them"));
}

absl::StatusOr<std::string> Repository::ResolveSnapshotId(std::string_view id_or_latest) {
  return ResolveSnapshot(id_or_latest, nullptr);
}

absl::StatusOr<std::string> Repository::ResolveSnapshot(std::string_view id_or_latest,
                                                        std::optional<std::string>* manifest_json) {
  auto not_found = [&] { return NoSnapshot(id_or_latest); };
  if (id_or_latest == "latest") {
    ASSIGN_OR_RETURN(std::vector<v1::Manifest> all, ListSnapshots(""));
    if (all.empty()) return not_found();
    return all.back().id();
  }
  const size_t slash = id_or_latest.find('/');
  if (slash == std::string_view::npos) return not_found();
  const std::string_view group = id_or_latest.substr(0, slash);
  const std::string_view time = id_or_latest.substr(slash + 1);
  if (!IsValidGroupName(group)) return not_found();
  if (time == "latest") {
    ASSIGN_OR_RETURN(std::vector<v1::Manifest> all, ListSnapshots(group));
    if (all.empty()) return not_found();
    return all.back().id();
  }
  if (!IsValidSnapshotTimeName(time)) return not_found();
  absl::StatusOr<std::string> manifest =
      ReadSnapshotPlain(id_or_latest, kManifestName, SealedKind::kManifest);
  if (absl::IsNotFound(manifest.status())) return not_found();
  if (!manifest.ok()) return manifest.status();
  if (manifest_json != nullptr) *manifest_json = *std::move(manifest);
  return S(id_or_latest);
}

absl::StatusOr<LoadedSnapshot> Repository::LoadSnapshot(std::string_view id_or_latest) {
  // An explicit id's manifest was read while resolving it: not read twice.
  std::optional<std::string> read;
  ASSIGN_OR_RETURN(std::string id, ResolveSnapshot(id_or_latest, &read));
  LoadedSnapshot out;
  out.dir = SnapshotFilePath(id, "");
  const std::string mpath = SnapshotFilePath(id, kManifestName);
  absl::StatusOr<std::string> json =
      read.has_value() ? *std::move(read)
                       : ReadSnapshotPlain(id, kManifestName, SealedKind::kManifest);
  if (absl::IsNotFound(json.status())) return NoSnapshot(id_or_latest);
  if (!json.ok()) return json.status();
  ASSIGN_OR_RETURN(out.manifest, ManifestFromJson(*json, mpath));
  if (out.manifest.id() != id) {
    return absl::DataLossError(absl::StrCat("snapshot ", id, ": manifest ", mpath,
                                            " is corrupt: it names snapshot '",
                                            absl::CHexEscape(out.manifest.id()), "'"));
  }
  for (v1::StreamKind kind : {v1::STREAM_KIND_METADATA, v1::STREAM_KIND_PAYLOAD}) {
    const char* what = kind == v1::STREAM_KIND_METADATA ? "metadata" : "payload";
    const v1::IndexFileInfo* info = nullptr;
    for (const v1::IndexFileInfo& i : out.manifest.indexes()) {
      if (i.stream() == kind) {
        info = &i;
        break;
      }
    }
    if (info == nullptr) {
      return absl::DataLossError(
          absl::StrCat("snapshot ", id, ": manifest ", mpath, " lists no ", what, " index"));
    }
    const std::string& name = info->name();
    if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos || name == kManifestName) {
      return absl::DataLossError(absl::StrCat("snapshot ", id, ": manifest ", mpath,
                                              " names an invalid ", what, " index file '",
                                              absl::CHexEscape(name), "'"));
    }
    const std::string ipath = SnapshotFilePath(id, name);
    absl::StatusOr<std::string> data = ReadSnapshotPlain(id, name, KindOfIndex(kind));
    if (absl::IsNotFound(data.status())) {
      return absl::DataLossError(
          absl::StrCat("snapshot ", id, ": index file ", ipath, " is missing"));
    }
    if (!data.ok()) {
      return absl::Status(data.status().code(),
                          absl::StrCat("snapshot ", id, ": ", data.status().message()));
    }
    if (data->size() != info->size()) {
      return absl::DataLossError(absl::StrCat("snapshot ", id, ": index file ", ipath, " has ",
                                              data->size(), " bytes but the manifest says ",
                                              info->size(),
                                              " (truncated or modified); run `arca verify`"));
    }
    const std::string sha = Sha256(*data).Hex();
    if (sha != info->sha256()) {
      return absl::DataLossError(absl::StrCat(
          "snapshot ", id, ": index file ", ipath, " has SHA-256 ", sha, " but the manifest says ",
          absl::CHexEscape(info->sha256()), " (modified or corrupt); run `arca verify`"));
    }
    (kind == v1::STREAM_KIND_METADATA ? out.metadata_index : out.payload_index) = std::move(*data);
  }
  return out;
}

absl::StatusOr<v1::Manifest> Repository::CommitSnapshot(v1::Manifest manifest,
                                                        std::string_view metadata_index,
                                                        std::string_view payload_index) {
  RETURN_IF_ERROR(RequireKey("commit a snapshot"));
  // Every referenced chunk must be durable before the manifest exists.
  RETURN_IF_ERROR(chunks()->Flush());
  if (manifest.group().empty()) {
    manifest.set_group(
        GroupName(manifest.host(), manifest.sources().empty() ? "" : manifest.sources(0)));
  }
  const std::string group = manifest.group();
  if (!IsValidGroupName(group)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(group),
                     "' is not a valid snapshot group name (use Repository::GroupName)"));
  }
  int64_t time_ns = manifest.time_unix_ns() == 0 ? NowUnixNs() : manifest.time_unix_ns();
  ASSIGN_OR_RETURN(std::string time_name, SnapshotTimeName(time_ns));

  const std::vector<SnapshotFile> files = {
      SnapshotFile{v1::STREAM_KIND_METADATA, kMetadataIndexName, metadata_index},
      SnapshotFile{v1::STREAM_KIND_PAYLOAD, kPayloadIndexName, payload_index}};
  for (const SnapshotFile& f : files) {
    v1::IndexFileInfo* info = nullptr;
    for (v1::IndexFileInfo& i : *manifest.mutable_indexes()) {
      if (i.stream() == f.kind) {
        info = &i;
        break;
      }
    }
    if (info == nullptr) {
      info = manifest.add_indexes();
      info->set_stream(f.kind);
    }
    info->set_name(S(f.name));
    info->set_size(f.data.size());
    info->set_sha256(Sha256(f.data).Hex());
  }
  // Claim the id: if another snapshot has it, the nanoseconds are bumped.
  // In an encrypted repository each file is sealed for the id it is
  // written under (the seal binds the name).
  std::vector<std::string> sealed(files.size());
  std::vector<SnapshotFile> written = files;
  for (int attempt = 0;; ++attempt) {
    if (encrypted()) {
      const std::string try_id = absl::StrCat(group, "/", time_name);
      for (size_t i = 0; i < files.size(); ++i) {
        sealed[i] = SealSnapshotFile(try_id, files[i].name, KindOfIndex(files[i].kind),
                                     files[i].data);
        written[i].data = sealed[i];
      }
    }
    ASSIGN_OR_RETURN(bool claimed, WriteSnapshotFiles(group, time_name, written));
    if (claimed) break;
    if (attempt > 100000) {
      return absl::UnavailableError(absl::StrCat("could not claim a snapshot id in group ", group,
                                                 " of ", path_, " after 100000 attempts"));
    }
    ++time_ns;
    ASSIGN_OR_RETURN(time_name, SnapshotTimeName(time_ns));
  }
  const std::string id = absl::StrCat(group, "/", time_name);

  manifest.set_format_version(kRepositoryFormatVersion);
  manifest.set_id(id);
  manifest.set_time_unix_ns(time_ns);
  manifest.set_repository_id(config_.repository_id());
  absl::StatusOr<std::string> json = ManifestToJson(manifest);
  absl::Status st =
      json.ok() ? WriteManifest(id, SealSnapshotFile(id, kManifestName, SealedKind::kManifest, *json))
                : json.status();
  if (!st.ok()) {
    AbandonSnapshot(id, written);
    return st;
  }
  return manifest;
}

// ---------------------------------------------------------------------------
// Encryption (every backend).

absl::Status PrepareNewConfig(v1::RepositoryConfig* config, const NewRepositoryKey* encryption) {
  config->set_created_unix_ns(NowUnixNs());
  if (encryption == nullptr) {
    if (!config->encryption().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "encryption '", config->encryption(), "' needs a key: internal error in the caller"));
    }
    config->set_format_version(kRepositoryFormatVersion);
    config->set_repository_id(RandomId128());
    return absl::OkStatus();
  }
  if (config->encryption() != kEncryptionAes256Gcm) {
    return absl::InvalidArgumentError(
        absl::StrCat("encryption '", config->encryption(), "' is not supported: use ",
                     kEncryptionAes256Gcm));
  }
  config->set_format_version(kEncryptedRepositoryFormatVersion);
  config->set_repository_id(encryption->slot.repository_id());
  // The gear table comes from the key (RepositoryKey::ChunkerSeed): the
  // config, which is not encrypted, must not reveal it.
  config->set_chunker_seed(0);
  return CheckKeySlot(encryption->slot, config->repository_id());
}

std::string NewRepositoryId() { return RandomId128(); }

v1::RepositoryConfig ChunkingConfig(const v1::RepositoryConfig& stored, const RepositoryKey* key) {
  v1::RepositoryConfig out = stored;
  if (!stored.encryption().empty() && key != nullptr) out.set_chunker_seed(key->ChunkerSeed());
  return out;
}

absl::StatusOr<NewRepositoryKey> MakeNewRepositoryKey(std::string_view repository_id,
                                                      const RepositorySecret& secret,
                                                      const ScryptParams& params,
                                                      std::string_view label) {
  RepositoryKey key = RepositoryKey::Generate();
  if (secret.key_file.has_value()) {
    v1::KeySlot slot = MakeKeyFileSlot(key, repository_id, *secret.key_file, label);
    return NewRepositoryKey{std::move(key), std::move(slot)};
  }
  if (!secret.password.has_value()) {
    return absl::InvalidArgumentError("a new encrypted repository needs a password or a key file");
  }
  ASSIGN_OR_RETURN(v1::KeySlot slot,
                   MakePasswordSlot(key, repository_id, *secret.password, params, label));
  return NewRepositoryKey{std::move(key), std::move(slot)};
}

absl::Status Repository::RequireKey(std::string_view what) const {
  if (!encrypted() || key_.has_value()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot ", S(what), ": the repository ", path_,
      " is encrypted and was not unlocked: give its password (ARCA_PASSWORD_FILE, "
      "--password-file or at the terminal prompt) or a key file (--key-file, ARCA_KEY_FILE)"));
}

absl::StatusOr<std::string> Repository::ReadSnapshotPlain(std::string_view id,
                                                          std::string_view name,
                                                          SealedKind kind) {
  absl::StatusOr<std::string> data = ReadSnapshotFile(id, name);
  if (!data.ok() || !encrypted()) return data;
  RETURN_IF_ERROR(RequireKey(absl::StrCat("read snapshot ", S(id))));
  return OpenSealedBlob(*key_, kind, SnapshotAad(id, name), AsBytes(*data),
                        absl::StrCat("snapshot ", S(id), ": ", SnapshotFilePath(id, name),
                                     " (run `arca verify`)"));
}

std::string Repository::SealSnapshotFile(std::string_view id, std::string_view name,
                                         SealedKind kind, std::string_view data) const {
  if (!encrypted()) return std::string(data);
  return SealBlob(*key_, kind, SnapshotAad(id, name), data);
}

absl::Status Repository::Unlock(const RepositorySecret& secret) {
  if (!encrypted()) return absl::OkStatus();
  if (secret.empty()) return RequireKey("open it");
  if (secret.key_file.has_value()) {
    const KeyFileSecret& kf = *secret.key_file;
    absl::StatusOr<std::string> json = ReadKeySlotFile(kf.slot_id);
    if (absl::IsNotFound(json.status())) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the key file's slot ", kf.slot_id, " is not in ", path_,
          " (removed with `arca key remove`, or a key file of another repository); `arca key "
          "list` shows the slots"));
    }
    if (!json.ok()) return json.status();
    ASSIGN_OR_RETURN(v1::KeySlot slot,
                     KeySlotFromJson(*json, absl::StrCat(path_, "/keys/", kf.slot_id),
                                     config_.repository_id(), kf.slot_id));
    absl::StatusOr<RepositoryKey> key = OpenKeyFileSlot(slot, config_.repository_id(), kf);
    if (!key.ok()) {
      return absl::Status(key.status().code(),
                          absl::StrCat(key.status().message(), " of ", path_));
    }
    key_ = *std::move(key);
    unlocked_slot_id_ = kf.slot_id;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::vector<v1::KeySlot> slots, ListKeySlots());
  int tried = 0;
  for (const v1::KeySlot& slot : slots) {
    if (slot.kind() != kKeySlotPassword) continue;
    ++tried;
    absl::StatusOr<RepositoryKey> key =
        OpenPasswordSlot(slot, config_.repository_id(), *secret.password);
    if (key.ok()) {
      key_ = *std::move(key);
      unlocked_slot_id_ = slot.id();
      return absl::OkStatus();
    }
    if (!absl::IsPermissionDenied(key.status())) return key.status();
  }
  if (tried == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path_, " has no password slot (", slots.size(),
        " key-file slot(s)): unlock it with --key-file, or add a password with `arca key add`"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the password opens none of the ", tried, " password slot(s) of ", path_,
                   ": check ARCA_PASSWORD_FILE / --password-file (wrong password?)"));
}

absl::StatusOr<std::vector<v1::KeySlot>> Repository::ListKeySlots() {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, ListKeySlotIds());
  std::vector<v1::KeySlot> out;
  for (const std::string& id : ids) {
    absl::StatusOr<std::string> json = ReadKeySlotFile(id);
    if (absl::IsNotFound(json.status())) continue;  // removed meanwhile
    if (!json.ok()) return json.status();
    ASSIGN_OR_RETURN(v1::KeySlot slot, KeySlotFromJson(*json, absl::StrCat(path_, "/keys/", id),
                                                       config_.repository_id(), id));
    out.push_back(std::move(slot));
  }
  if (out.empty() && encrypted()) {
    return absl::DataLossError(absl::StrCat("the encrypted repository ", path_,
                                            " has no key slot in ", path_,
                                            "/keys: it cannot be unlocked"));
  }
  return out;
}

absl::StatusOr<uint64_t> Repository::CheckSnapshotFrames(std::vector<std::string>* problems) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, ListSnapshotIds(""));
  uint64_t checked = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<std::string> manifest = ReadSnapshotFile(id, kManifestName);
    if (absl::IsNotFound(manifest.status())) continue;  // incomplete: invisible
    if (!manifest.ok()) return manifest.status();
    const std::pair<std::string_view, SealedKind> files[] = {
        {kManifestName, SealedKind::kManifest},
        {kMetadataIndexName, SealedKind::kMetadataIndex},
        {kPayloadIndexName, SealedKind::kPayloadIndex}};
    for (const auto& [name, kind] : files) {
      const std::string where = SnapshotFilePath(id, name);
      absl::StatusOr<std::string> data =
          name == kManifestName ? *manifest : ReadSnapshotFile(id, name);
      if (absl::IsNotFound(data.status())) {
        problems->push_back(absl::StrCat("snapshot ", id, ": ", where, " is missing"));
        continue;
      }
      if (!data.ok()) return data.status();
      ++checked;
      absl::StatusOr<SealedKind> found = CheckSealedFrame(AsBytes(*data), where);
      if (!found.ok()) {
        problems->push_back(absl::StrCat("snapshot ", id, ": ", found.status().message()));
      } else if (*found != kind) {
        problems->push_back(absl::StrCat("snapshot ", id, ": ", where, " holds content kind ",
                                         static_cast<int>(*found), ", expected ",
                                         static_cast<int>(kind)));
      }
    }
  }
  return checked;
}

absl::Status Repository::AddKeySlot(const v1::KeySlot& slot) {
  if (!encrypted()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, " is not encrypted: it has no keys (create an encrypted repository "
                            "with `arca init --encryption aes-256-gcm`)"));
  }
  RETURN_IF_ERROR(RequireKey("add a key"));
  RETURN_IF_ERROR(CheckKeySlot(slot, config_.repository_id()));
  ASSIGN_OR_RETURN(std::string json, KeySlotToJson(slot));
  return WriteKeySlotFile(slot.id(), json);
}

absl::Status Repository::RemoveKeySlot(std::string_view id) {
  ASSIGN_OR_RETURN(std::vector<v1::KeySlot> slots, ListKeySlots());
  bool found = false;
  for (const v1::KeySlot& s : slots) found = found || s.id() == id;
  if (!found) {
    return absl::NotFoundError(absl::StrCat("no key slot '", absl::CHexEscape(S(id)), "' in ",
                                            path_, ": `arca key list` shows the slots"));
  }
  if (id == unlocked_slot_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "slot ", S(id), " is the key this command was unlocked with: unlock with another key "
        "(--password-file / --key-file) to remove it"));
  }
  if (slots.size() == 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "slot ", S(id), " is the last key slot of ", path_,
        ": removing it would make the repository unreadable forever; add another key first"));
  }
  return RemoveKeySlotFile(id);
}

absl::StatusOr<double> Repository::ObservedCompressionRatio() {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, SnapshotIdsNewestFirst(""));
  uint64_t raw = 0, stored = 0;
  int used = 0, read = 0;
  for (const std::string& id : ids) {
    if (used >= 10 || read >= 50) break;
    ASSIGN_OR_RETURN(std::optional<v1::Manifest> m, ReadListedManifest(id));
    ++read;
    if (!m.has_value() || m->stats().bytes_new_raw() == 0) continue;
    raw += m->stats().bytes_new_raw();
    stored += m->stats().bytes_new_stored();
    ++used;
  }
  if (raw == 0) return 1.0;
  return static_cast<double>(stored) / static_cast<double>(raw);
}

// ---------------------------------------------------------------------------
// The local backend.

absl::StatusOr<std::vector<std::string>> LocalRepository::ListSnapshotIds(std::string_view group) {
  std::vector<std::string> groups;
  if (group.empty()) {
    ASSIGN_OR_RETURN(std::vector<std::string> names,
                     ListDirNames(absl::StrCat(path(), "/snapshots"), path()));
    for (std::string& n : names) {
      if (IsValidGroupName(n)) groups.push_back(std::move(n));
    }
  } else {
    groups.push_back(S(group));
  }
  std::vector<std::string> ids;
  for (const std::string& g : groups) {
    ASSIGN_OR_RETURN(std::vector<std::string> times,
                     ListDirNames(absl::StrCat(path(), "/snapshots/", g), path()));
    for (const std::string& t : times) {
      if (IsValidSnapshotTimeName(t)) ids.push_back(absl::StrCat(g, "/", t));
    }
  }
  return ids;
}

absl::StatusOr<bool> LocalRepository::WriteSnapshotFiles(std::string_view group,
                                                         std::string_view time_name,
                                                         const std::vector<SnapshotFile>& files) {
  const std::string snapshots_dir = absl::StrCat(path(), "/snapshots");
  const std::string gdir = absl::StrCat(snapshots_dir, "/", S(group));
  bool group_created = false;
  if (::mkdir(snapshots_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "create directory", snapshots_dir, path(), true);
  }
  if (::mkdir(gdir.c_str(), 0755) == 0) {
    group_created = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "create directory", gdir, path(), true);
  }
  // Claim the time directory: mkdir is atomic across processes.
  const std::string id = absl::StrCat(S(group), "/", S(time_name));
  const std::string sdir = SnapshotFilePath(id, "");
  if (::mkdir(sdir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return false;
    return ErrnoStatus(errno, "create directory", sdir, path(), true);
  }
  auto fail = [&](absl::Status st) {
    AbandonSnapshot(id, files);
    return st;
  };
  for (const SnapshotFile& f : files) {
    absl::Status st =
        WriteNewFileDurably(SnapshotFilePath(id, f.name),
                            absl::string_view(f.data.data(), f.data.size()), path(), 0444);
    if (!st.ok()) return fail(st);
  }
  // The new directory entries must survive a crash before the manifest can.
  if (absl::Status st = SyncDirectory(sdir, path()); !st.ok()) return fail(st);
  if (absl::Status st = SyncDirectory(gdir, path()); !st.ok()) return fail(st);
  if (group_created) {
    if (absl::Status st = SyncDirectory(snapshots_dir, path()); !st.ok()) return fail(st);
  }
  return true;
}

absl::Status LocalRepository::ForgetSnapshot(std::string_view id) {
  RETURN_IF_ERROR(CheckSnapshotId(id, "forget"));
  const size_t slash = id.find('/');
  const std::string_view group = id.substr(0, slash);
  const std::string_view time = id.substr(slash + 1);
  const std::string gdir = absl::StrCat(path(), "/snapshots/", S(group));
  const std::string sdir = absl::StrCat(gdir, "/", S(time));
  auto not_found = [&] {
    return absl::NotFoundError(
        absl::StrCat("no snapshot '", S(id), "' in ", path(), ": run `arca snapshots`"));
  };
  // Only a visible (complete) snapshot is forgotten; a directory without a
  // manifest may be a backup that is still committing.
  struct stat st;
  const std::string mpath = absl::StrCat(sdir, "/", kManifestName);
  if (::lstat(mpath.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return not_found();
    return ErrnoStatus(errno, absl::StrCat("forget snapshot ", S(id), ": stat"), mpath, path(),
                       false);
  }
  const std::string hidden = absl::StrCat(gdir, "/", S(kForgetPrefix), S(time), "-", RandomHex16());
  if (::rename(sdir.c_str(), hidden.c_str()) != 0) {
    if (errno == ENOENT) return not_found();  // another forget won
    return ErrnoStatus(errno, absl::StrCat("forget snapshot ", S(id), ": rename to ", hidden), sdir,
                       path(), true);
  }
  if (absl::Status synced = SyncDirectory(gdir, path()); !synced.ok()) {
    return absl::Status(synced.code(),
                        absl::StrCat("forget snapshot ", S(id), ": ", synced.message()));
  }
  // The snapshot is forgotten; what is left is garbage under a hidden name.
  std::error_code ec;
  std::filesystem::remove_all(hidden, ec);
  return absl::OkStatus();
}

}  // namespace arca
