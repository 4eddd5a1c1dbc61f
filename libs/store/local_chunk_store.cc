// LocalChunkStore: see chunk_store.h and README.md ("Durability").
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/store/chunk_file_name.h"
#include "libs/store/chunk_store.h"
#include "libs/store/file_io.h"

namespace arca {
namespace {

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

constexpr char kHex[] = "0123456789abcdef";

std::string ByteHex(uint8_t b) { return std::string{kHex[b >> 4], kHex[b & 15]}; }

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsByteDirName(std::string_view name) { return name.size() == 2 && IsLowerHex(name); }

// The leaf directories of the chunk layout: calls fn(a, b, path of
// DIR/a/b, its entry names as ListDirNames returns them) for every DIR/a/b
// whose two levels are byte-named ("ab/cd"); other names are not the
// layout's and are skipped. Stops at fn's first error.
absl::Status ForEachLeafDir(
    const std::string& dir, const std::string& repo,
    const std::function<absl::Status(std::string_view a, std::string_view b,
                                     const std::string& b_dir, std::vector<std::string>& names)>&
        fn) {
  ASSIGN_OR_RETURN(std::vector<std::string> tops, ListDirNames(dir, repo));
  for (const std::string& a : tops) {
    if (!IsByteDirName(a)) continue;
    const std::string a_dir = absl::StrCat(dir, "/", a);
    ASSIGN_OR_RETURN(std::vector<std::string> leaves, ListDirNames(a_dir, repo));
    for (const std::string& b : leaves) {
      if (!IsByteDirName(b)) continue;
      const std::string b_dir = absl::StrCat(a_dir, "/", b);
      ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(b_dir, repo));
      RETURN_IF_ERROR(fn(a, b, b_dir, names));
    }
  }
  return absl::OkStatus();
}

std::string RepoOf(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  constexpr std::string_view kChunks = "/chunks";
  if (d.size() > kChunks.size() &&
      std::string_view(d).substr(d.size() - kChunks.size()) == kChunks) {
    return d.substr(0, d.size() - kChunks.size());
  }
  return d;
}

}  // namespace

LocalChunkStore::LocalChunkStore(std::string dir, LocalChunkStoreOptions options)
    : dir_(std::move(dir)),
      repo_(RepoOf(dir_)),
      options_(options),
      dir_exists_(65536 + 256, false) {}

LocalChunkStore::~LocalChunkStore() {
  absl::MutexLock l(&mu_);
  for (const auto& [digest, p] : pending_) ::unlink(p.temp_path.c_str());
}

absl::StatusOr<std::unique_ptr<LocalChunkStore>> LocalChunkStore::Open(
    const std::string& dir, LocalChunkStoreOptions options) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("chunk directory ", dir,
                                              " does not exist; the repository at ", RepoOf(dir),
                                              " is incomplete or not an arca repository"));
    }
    return ErrnoStatus(errno, "stat", dir, RepoOf(dir), false);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("chunk directory ", dir, " is not a directory"));
  }
  if (options.max_pending_bytes == 0) options.max_pending_bytes = 1;
  std::unique_ptr<LocalChunkStore> store(new LocalChunkStore(dir, options));
  if (options.remove_stale_temp_files_on_open) {
    ASSIGN_OR_RETURN(uint64_t removed, store->RemoveStaleTempFiles(options.stale_temp_age_seconds));
    (void)removed;
  }
  return store;
}

std::string LocalChunkStore::LeafDir(const Digest& digest) const {
  return absl::StrCat(dir_, "/", ByteHex(digest.bytes[0]), "/", ByteHex(digest.bytes[1]));
}

std::string LocalChunkStore::ChunkPath(const Digest& digest) const {
  return absl::StrCat(LeafDir(digest), "/", digest.Hex());
}

absl::Status LocalChunkStore::EnsureDirs(const Digest& digest) {
  const size_t top = 65536 + digest.bytes[0];
  const size_t leaf = digest.bytes[0] * 256u + digest.bytes[1];
  {
    absl::MutexLock l(&mu_);
    if (dir_exists_[leaf]) return absl::OkStatus();
  }
  const std::string top_dir = absl::StrCat(dir_, "/", ByteHex(digest.bytes[0]));
  const std::string leaf_dir = LeafDir(digest);
  bool created_top = false, created_leaf = false;
  if (::mkdir(top_dir.c_str(), 0755) == 0) {
    created_top = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "create directory", top_dir, repo_, true);
  }
  if (::mkdir(leaf_dir.c_str(), 0755) == 0) {
    created_leaf = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "create directory", leaf_dir, repo_, true);
  }
  absl::MutexLock l(&mu_);
  dir_exists_[top] = true;
  dir_exists_[leaf] = true;
  if (created_top) dirty_dirs_.insert(dir_);
  if (created_leaf) dirty_dirs_.insert(top_dir);
  return absl::OkStatus();
}

absl::StatusOr<bool> LocalChunkStore::HasFinal(const Digest& digest) {
  const std::string path = ChunkPath(digest);
  // One call checks existence and refreshes the mtime, so a concurrent gc
  // (RemoveChunkIfOlder) either sees the new mtime or has already renamed the
  // file away, in which case this says "absent" and the caller stores it.
  if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  if (errno != EACCES && errno != EPERM && errno != EROFS) {
    return ErrnoStatus(errno, "refresh", path, repo_, true);
  }
  // Not ours to touch (another user's chunk, read-only file system): fall
  // back to a plain check. gc cannot protect such a hit (README.md).
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return ErrnoStatus(errno, "stat", path, repo_, false);
}

absl::StatusOr<bool> LocalChunkStore::Has(const Digest& digest) {
  {
    absl::MutexLock l(&mu_);
    if (pending_.contains(digest)) return true;
  }
  ASSIGN_OR_RETURN(bool found, HasFinal(digest));
  if (found) return true;
  // It may have been renamed by a concurrent Flush between the two checks.
  absl::MutexLock l(&mu_);
  if (pending_.contains(digest)) return true;
  return HasFinal(digest);
}

absl::Status LocalChunkStore::WriteTemp(const std::string& temp_path, std::string_view blob) {
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(temp_path, " exists"));
    }
    return ErrnoStatus(errno, "create", temp_path, repo_, true);
  }
  absl::Status st;
  std::string_view rest = blob;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      st = ErrnoStatus(errno, "write", temp_path, repo_, true);
      break;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (st.ok() && options_.per_file_fsync && ::fdatasync(fd) != 0) {
    st = ErrnoStatus(errno, "fdatasync", temp_path, repo_, true);
  }
  if (::close(fd) != 0 && st.ok()) {
    st = ErrnoStatus(errno, "close", temp_path, repo_, true);
  }
  if (!st.ok()) ::unlink(temp_path.c_str());
  return st;
}

absl::StatusOr<bool> LocalChunkStore::Put(const Digest& digest, std::string_view blob) {
  {
    absl::MutexLock l(&mu_);
    while (in_flight_.contains(digest)) in_flight_done_.Wait(&mu_);
    if (pending_.contains(digest)) return false;
    in_flight_.insert(digest);
  }
  bool published = false;
  absl::Cleanup done = [&] {
    if (published) return;
    absl::MutexLock l(&mu_);
    in_flight_.erase(digest);
    in_flight_done_.SignalAll();
  };
  ASSIGN_OR_RETURN(bool present, HasFinal(digest));
  if (present) return false;
  RETURN_IF_ERROR(EnsureDirs(digest));
  std::string temp_path;
  absl::Status st;
  for (int attempt = 0; attempt < 4; ++attempt) {
    temp_path = absl::StrCat(LeafDir(digest), "/", kTempPrefix, RandomHex16());
    st = WriteTemp(temp_path, blob);
    if (!absl::IsAlreadyExists(st)) break;  // else: name taken, draw another
  }
  RETURN_IF_ERROR(st);
  bool flush_now;
  {
    absl::MutexLock l(&mu_);
    pending_[digest] = Pending{temp_path, blob.size()};
    pending_bytes_ += blob.size();
    in_flight_.erase(digest);
    in_flight_done_.SignalAll();
    published = true;
    flush_now = pending_bytes_ > options_.max_pending_bytes;
  }
  if (flush_now) RETURN_IF_ERROR(Flush());
  return true;
}

absl::StatusOr<std::string> LocalChunkStore::Get(const Digest& digest) {
  std::string temp_path;
  {
    absl::MutexLock l(&mu_);
    auto it = pending_.find(digest);
    if (it != pending_.end()) temp_path = it->second.temp_path;
  }
  if (!temp_path.empty()) {
    absl::StatusOr<std::string> blob = ReadWholeFile(temp_path, repo_);
    // NotFound: a concurrent Flush renamed it; read the final name below.
    if (!absl::IsNotFound(blob.status())) return blob;
  }
  const std::string path = ChunkPath(digest);
  absl::StatusOr<std::string> blob = ReadWholeFile(path, repo_);
  if (absl::IsNotFound(blob.status())) {
    const std::string bad =
        absl::StrCat(LeafDir(digest), "/", FormatChunkFileName(ChunkFileKind::kBad, digest));
    if (::access(bad.c_str(), F_OK) == 0) {
      return absl::NotFoundError(
          absl::StrCat("chunk ", digest.Hex(), " is missing from ", repo_,
                       ": it failed verification and was "
                       "moved aside as ",
                       bad,
                       "; back up the files that hold it again (the next backup of "
                       "that data stores it again)"));
    }
    return absl::NotFoundError(absl::StrCat("chunk ", digest.Hex(), " is missing from ", repo_,
                                            " (expected at ", path, ")"));
  }
  return blob;  // other errors name the path, which holds the digest
}

absl::StatusOr<std::string> LocalChunkStore::MoveAside(const Digest& digest) {
  const std::string path = ChunkPath(digest);
  const std::string bad =
      absl::StrCat(LeafDir(digest), "/", FormatChunkFileName(ChunkFileKind::kBad, digest));
  if (::rename(path.c_str(), bad.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("chunk ", digest.Hex(), " is missing from ", repo_,
                                              " (expected at ", path, "); nothing to move aside"));
    }
    return ErrnoStatus(errno, "rename to", bad, repo_, true);
  }
  return bad;
}

absl::StatusOr<std::vector<LocalChunkStore::BadChunkFile>> LocalChunkStore::ListBadChunks() {
  std::vector<BadChunkFile> out;
  RETURN_IF_ERROR(
      ForEachLeafDir(dir_, repo_,
                     [&](std::string_view a, std::string_view b, const std::string& b_dir,
                         std::vector<std::string>& names) -> absl::Status {
                       for (const std::string& name : names) {
                         const ChunkFileName parsed = ParseChunkFileName(name);
                         if (parsed.kind != ChunkFileKind::kBad) continue;
                         BadChunkFile f;
                         f.digest = parsed.digest;
                         f.path = absl::StrCat(b_dir, "/", name);
                         struct stat st;
                         if (::lstat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
                         f.size = static_cast<uint64_t>(st.st_size);
                         f.mtime_unix_ns = MtimeNs(st);
                         out.push_back(std::move(f));
                       }
                       return absl::OkStatus();
                     }));
  std::sort(out.begin(), out.end(),
            [](const BadChunkFile& x, const BadChunkFile& y) { return x.digest < y.digest; });
  return out;
}

absl::Status LocalChunkStore::SyncFileSystem() {
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir_, repo_, true);
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return ErrnoStatus(err, "syncfs of the file system of", dir_, repo_, true);
  }
  return absl::OkStatus();
}

absl::Status LocalChunkStore::Flush() {
  absl::MutexLock fl(&flush_mu_);
  return FlushLocked();
}

absl::Status LocalChunkStore::FlushLocked() {
  std::vector<std::pair<Digest, std::string>> batch;
  absl::flat_hash_set<std::string> dirs;
  {
    absl::MutexLock l(&mu_);
    batch.reserve(pending_.size());
    for (const auto& [digest, p] : pending_) batch.emplace_back(digest, p.temp_path);
    dirs.swap(dirty_dirs_);
  }
  if (batch.empty() && dirs.empty()) return absl::OkStatus();

  // 1. Make the bytes durable (per-file mode did it in Put).
  if (!options_.per_file_fsync && !batch.empty()) {
    if (absl::Status st = SyncFileSystem(); !st.ok()) {
      absl::MutexLock l(&mu_);
      dirty_dirs_.insert(dirs.begin(), dirs.end());
      return st;
    }
  }
  // 2. Publish under the digest names.
  absl::Status st;
  size_t renamed = 0;
  for (; renamed < batch.size(); ++renamed) {
    const auto& [digest, temp_path] = batch[renamed];
    const std::string final_path = ChunkPath(digest);
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
      st = ErrnoStatus(errno, "rename to", final_path, repo_, true);
      break;
    }
    dirs.insert(LeafDir(digest));
  }
  // 3. Make the names durable: one more syncfs (it commits the file system's
  // journal, renames and mkdirs included), or an fsync of each directory.
  // On a journaling file system each directory fsync also flushes the disk
  // cache, ~1 ms apiece: for 1500 new chunks the second syncfs is far cheaper
  // (README.md, "Durability").
  if (!options_.per_file_fsync) {
    if (absl::Status s = SyncFileSystem(); !s.ok() && st.ok()) st = s;
  } else {
    for (const std::string& d : dirs) {
      absl::Status s = SyncDirectory(d, repo_);
      if (!s.ok() && st.ok()) st = s;
    }
  }
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < renamed; ++i) {
    auto it = pending_.find(batch[i].first);
    if (it == pending_.end()) continue;
    pending_bytes_ -= it->second.size;
    pending_.erase(it);
  }
  if (!st.ok()) dirty_dirs_.insert(dirs.begin(), dirs.end());
  return st;
}

absl::Status LocalChunkStore::ForEach(
    const std::function<absl::Status(const Digest&, uint64_t)>& fn) {
  absl::flat_hash_map<Digest, uint64_t> pending;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [digest, p] : pending_) pending.emplace(digest, p.size);
  }
  RETURN_IF_ERROR(
      ForEachLeafDir(dir_, repo_,
                     [&](std::string_view a, std::string_view b, const std::string& b_dir,
                         std::vector<std::string>& names) -> absl::Status {
                       for (const std::string& name : names) {
                         const ChunkFileName parsed = ParseChunkFileName(name);
                         if (parsed.kind != ChunkFileKind::kChunk) continue;
                         const Digest& digest = parsed.digest;
                         if (std::string_view(name).substr(0, 2) != a ||
                             std::string_view(name).substr(2, 2) != b) {
                           continue;  // misplaced: not a chunk of this layout
                         }
                         if (pending.contains(digest)) continue;  // reported below
                         const std::string path = absl::StrCat(b_dir, "/", name);
                         struct stat st;
                         if (::stat(path.c_str(), &st) != 0) {
                           if (errno == ENOENT) continue;  // removed meanwhile
                           return ErrnoStatus(errno, "stat", path, repo_, false);
                         }
                         if (!S_ISREG(st.st_mode)) continue;
                         RETURN_IF_ERROR(fn(digest, static_cast<uint64_t>(st.st_size)));
                       }
                       return absl::OkStatus();
                     }));
  for (const auto& [digest, size] : pending) RETURN_IF_ERROR(fn(digest, size));
  return absl::OkStatus();
}

absl::Status LocalChunkStore::Remove(const Digest& digest) {
  absl::MutexLock fl(&flush_mu_);  // not while a Flush renames it
  {
    absl::MutexLock l(&mu_);
    auto it = pending_.find(digest);
    if (it != pending_.end()) {
      if (::unlink(it->second.temp_path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus(errno, "remove", it->second.temp_path, repo_, true);
      }
      pending_bytes_ -= it->second.size;
      pending_.erase(it);
      return absl::OkStatus();
    }
  }
  const std::string path = ChunkPath(digest);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("chunk ", digest.Hex(), " is missing from ", repo_,
                                              " (expected at ", path, "); nothing to remove"));
    }
    return ErrnoStatus(errno, "remove", path, repo_, true);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LocalChunkStore::RemoveStaleTempFiles(int64_t min_age_seconds) {
  const int64_t cutoff = (static_cast<int64_t>(::time(nullptr)) - min_age_seconds + 1) * 1000000000;
  ASSIGN_OR_RETURN(TempSweep swept, RemoveTempFilesOlderThan(cutoff, false));
  return swept.files;
}

absl::StatusOr<TempSweep> LocalChunkStore::RemoveTempFilesOlderThan(int64_t cutoff_unix_ns,
                                                                    bool dry_run) {
  absl::flat_hash_set<std::string> ours;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [digest, p] : pending_) ours.insert(p.temp_path);
  }
  TempSweep swept;
  RETURN_IF_ERROR(
      ForEachLeafDir(dir_, repo_,
                     [&](std::string_view a, std::string_view b, const std::string& b_dir,
                         std::vector<std::string>& names) -> absl::Status {
                       for (const std::string& name : names) {
                         if (ParseChunkFileName(name).kind != ChunkFileKind::kTemp) continue;
                         const std::string path = absl::StrCat(b_dir, "/", name);
                         if (ours.contains(path)) continue;
                         struct stat st;
                         if (::lstat(path.c_str(), &st) != 0) continue;
                         if (MtimeNs(st) >= cutoff_unix_ns) continue;
                         if (dry_run || ::unlink(path.c_str()) == 0) {
                           ++swept.files;
                           swept.bytes += static_cast<uint64_t>(st.st_size);
                         } else if (errno != ENOENT) {
                           return ErrnoStatus(errno, "remove stale temp file", path, repo_, true);
                         }
                       }
                       return absl::OkStatus();
                     }));
  return swept;
}

absl::Status LocalChunkStore::ForEachChunkFile(
    const std::function<absl::Status(const ChunkFileInfo&)>& fn) {
  RETURN_IF_ERROR(ForEachLeafDir(
      dir_, repo_,
      [&](std::string_view a, std::string_view b, const std::string& b_dir,
          std::vector<std::string>& names) -> absl::Status {
        for (std::string& name : names) {
          ChunkFileName parsed = ParseChunkFileName(name);
          if (parsed.kind == ChunkFileKind::kGcAside) {
            // A gc crashed between its rename and its decision: undo the rename.
            const std::string chunk_name =
                FormatChunkFileName(ChunkFileKind::kChunk, parsed.digest);
            const std::string from = absl::StrCat(b_dir, "/", name);
            const std::string to = absl::StrCat(b_dir, "/", chunk_name);
            if (::link(from.c_str(), to.c_str()) != 0 && errno != EEXIST) {
              return ErrnoStatus(errno, "restore interrupted gc file", from, repo_, true);
            }
            if (::unlink(from.c_str()) != 0 && errno != ENOENT) {
              return ErrnoStatus(errno, "remove", from, repo_, true);
            }
            if (std::binary_search(names.begin(), names.end(), chunk_name)) continue;
            name = chunk_name;  // not listed yet: report it here
            parsed.kind = ChunkFileKind::kChunk;
          }
          if (parsed.kind != ChunkFileKind::kChunk) continue;
          ChunkFileInfo info;
          info.digest = parsed.digest;
          if (std::string_view(name).substr(0, 2) != a ||
              std::string_view(name).substr(2, 2) != b) {
            continue;  // misplaced: not a chunk of this layout
          }
          const std::string path = absl::StrCat(b_dir, "/", name);
          struct stat st;
          if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile
            return ErrnoStatus(errno, "stat", path, repo_, false);
          }
          if (!S_ISREG(st.st_mode)) continue;
          info.size = static_cast<uint64_t>(st.st_size);
          info.mtime_unix_ns = MtimeNs(st);
          RETURN_IF_ERROR(fn(info));
        }
        return absl::OkStatus();
      }));
  return absl::OkStatus();
}

absl::StatusOr<bool> LocalChunkStore::RemoveChunkIfOlder(const Digest& digest,
                                                         int64_t cutoff_unix_ns) {
  const std::string path = ChunkPath(digest);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus(errno, "stat", path, repo_, false);
  }
  if (MtimeNs(st) >= cutoff_unix_ns) return false;
  const std::string aside =
      absl::StrCat(LeafDir(digest), "/", FormatChunkFileName(ChunkFileKind::kGcAside, digest));
  if (::rename(path.c_str(), aside.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "rename to", aside, repo_, true);
  }
  // From here on a writer's Has finds nothing and stores the chunk again. A
  // writer that refreshed the file between the lstat above and the rename
  // relies on it: its mtime says so.
  if (::lstat(aside.c_str(), &st) != 0) {
    return ErrnoStatus(errno, "stat", aside, repo_, false);
  }
  if (MtimeNs(st) >= cutoff_unix_ns) {
    // link, not rename: a writer may have stored the chunk again meanwhile
    // (same content); never replace its file.
    if (::link(aside.c_str(), path.c_str()) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "restore", path, repo_, true);
    }
    if (::unlink(aside.c_str()) != 0) return ErrnoStatus(errno, "remove", aside, repo_, true);
    return false;
  }
  if (::unlink(aside.c_str()) != 0) return ErrnoStatus(errno, "remove", aside, repo_, true);
  return true;
}

absl::StatusOr<std::vector<std::string>> LocalChunkStore::ListMovedAside() {
  ASSIGN_OR_RETURN(std::vector<BadChunkFile> bad, ListBadChunks());
  std::vector<std::string> paths;
  for (const BadChunkFile& f : bad) paths.push_back(f.path);
  return paths;
}

}  // namespace arca
