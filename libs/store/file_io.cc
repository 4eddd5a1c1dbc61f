#include "libs/store/file_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "libs/base/random_bytes.h"

namespace arca {
namespace {

std::string S(absl::string_view v) { return std::string(v); }

}  // namespace

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path,
                         absl::string_view repo, bool write) {
  const std::string detail = absl::StrCat(what, " ", S(path), ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(
          absl::StrCat("no space left for the repository at ", S(repo), ": ", detail,
                       "; free some space (or prune old snapshots) and retry"));
    case EACCES:
    case EPERM:
    case EROFS:
      if (write) {
        return absl::PermissionDeniedError(
            absl::StrCat("the repository at ", S(repo), " is not writable: ", detail,
                         "; check its permissions and mount options"));
      }
      return absl::PermissionDeniedError(absl::StrCat("cannot read the repository at ", S(repo),
                                                      ": ", detail, "; check its permissions"));
    case EIO:
      if (write) {
        return absl::UnavailableError(absl::StrCat("I/O error in the repository at ", S(repo), ": ",
                                                   detail, "; check the device and retry"));
      }
      return absl::DataLossError(absl::StrCat("I/O error in the repository at ", S(repo), ": ",
                                              detail,
                                              "; the data may be damaged, run `arca verify`"));
    case ENOENT:
      return absl::NotFoundError(detail);
    case EINTR:
    case EAGAIN:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EBUSY:
      return absl::UnavailableError(absl::StrCat("temporary failure in the repository at ", S(repo),
                                                 ": ", detail, "; retry"));
    default:
      return absl::InternalError(
          absl::StrCat("unexpected error in the repository at ", S(repo), ": ", detail));
  }
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view repo) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path, repo, false);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "stat", path, repo, false);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::DataLossError(
        absl::StrCat(path, " is not a regular file; the repository at ", S(repo), " is damaged"));
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (true) {
    if (done == out.size()) out.resize(out.size() + 4096);  // grew meanwhile
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "read", path, repo, false);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

namespace {

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path,
                      absl::string_view repo) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path, repo, true);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteNewFileDurably(const std::string& path, absl::string_view data,
                                 absl::string_view repo, int mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "create", path, repo, true);
  absl::Status st = WriteAll(fd, data, path, repo);
  if (st.ok() && ::fdatasync(fd) != 0) {
    st = ErrnoStatus(errno, "fdatasync", path, repo, true);
  }
  if (::close(fd) != 0 && st.ok()) {
    st = ErrnoStatus(errno, "close", path, repo, true);
  }
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

absl::Status WriteFileAtomically(const std::string& dir, absl::string_view name,
                                 absl::string_view data, absl::string_view repo, int mode) {
  return WriteFileAtomicallyVia(dir, absl::StrCat(S(kTempPrefix), RandomHex16()), name, data, repo,
                                mode);
}

absl::Status WriteFileAtomicallyVia(const std::string& dir, absl::string_view temp_name,
                                    absl::string_view name, absl::string_view data,
                                    absl::string_view repo, int mode) {
  const std::string tmp = absl::StrCat(dir, "/", S(temp_name));
  const std::string final_path = absl::StrCat(dir, "/", S(name));
  absl::Status st = WriteNewFileDurably(tmp, data, repo, mode);
  if (!st.ok()) return st;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "rename to", final_path, repo, true);
  }
  return SyncDirectory(dir, repo);
}

absl::Status SyncDirectory(const std::string& dir, absl::string_view repo) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir, repo, true);
  absl::Status st;
  if (::fsync(fd) != 0) st = ErrnoStatus(errno, "fsync directory", dir, repo, true);
  ::close(fd);
  return st;
}

std::string RandomHex16() {
  uint64_t v = 0;
  FillRandom(&v, sizeof(v));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[i] = kHex[v & 15];
  return out;
}

absl::StatusOr<std::vector<std::string>> ListDirNames(const std::string& dir,
                                                      const std::string& repo) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return names;
    return ErrnoStatus(errno, "open directory", dir, repo, false);
  }
  while (true) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      int err = errno;
      ::closedir(d);
      if (err != 0) return ErrnoStatus(err, "read directory", dir, repo, false);
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace arca
