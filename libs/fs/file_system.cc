#include "libs/fs/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"

namespace arca::fs {
namespace {

int64_t ToNanos(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Closes a file descriptor on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n =
          ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(errno, absl::StrCat("cannot read at offset ", offset + done, " of"),
                             path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    return done;
  }

  absl::StatusOr<StatInfo> Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      return ErrnoToStatus(errno, "cannot fstat", path_);
    }
    return StatInfoFromStat(st);
  }

  absl::StatusOr<std::vector<v1::Extent>> DataExtents(uint64_t size) override {
    std::vector<v1::Extent> extents;
    if (size == 0) return extents;
    auto whole = [&] {
      extents.clear();
      v1::Extent& e = extents.emplace_back();
      e.set_offset(0);
      e.set_length(size);
      return extents;
    };
    uint64_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // no data after pos: the rest is a hole
        if (errno == EINVAL || errno == EOPNOTSUPP || errno == ENOTSUP) {
          return whole();  // the file system cannot tell
        }
        return ErrnoToStatus(errno, "cannot seek to data (SEEK_DATA) in", path_);
      }
      uint64_t start = static_cast<uint64_t>(data);
      if (start >= size) break;
      off_t hole = ::lseek(fd_, data, SEEK_HOLE);
      if (hole < 0) {
        if (errno == ENXIO) {
          hole = static_cast<off_t>(size);  // truncated meanwhile
        } else if (errno == EINVAL || errno == EOPNOTSUPP || errno == ENOTSUP) {
          return whole();
        } else {
          return ErrnoToStatus(errno, "cannot seek to hole (SEEK_HOLE) in", path_);
        }
      }
      uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      if (end <= start) {
        // No progress would loop forever; trust nothing and read it all.
        return whole();
      }
      if (!extents.empty() && extents.back().offset() + extents.back().length() == start) {
        extents.back().set_length(end - extents.back().offset());
      } else {
        v1::Extent& e = extents.emplace_back();
        e.set_offset(start);
        e.set_length(end - start);
      }
      pos = end;
    }
    return extents;
  }

  void HintSequential() override { (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL); }

 private:
  const std::string path_;
  const int fd_;
};

}  // namespace

absl::StatusCode ErrnoToStatusCode(int error_number) {
  switch (error_number) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENXIO:
    case ENODEV:
    case EROFS:
    case ENOTEMPTY:
    case ETXTBSY:
    case EXDEV:
      return absl::StatusCode::kFailedPrecondition;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::StatusCode::kResourceExhausted;
    case EINVAL:
    case ENAMETOOLONG:
      return absl::StatusCode::kInvalidArgument;
    case EOPNOTSUPP:
#if ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case ENOSYS:
      return absl::StatusCode::kUnimplemented;
    case EIO:
    case EINTR:
    case EAGAIN:
    case EBUSY:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ESTALE:
    case ETIMEDOUT:
    case ENOLINK:
    case ECONNABORTED:
    case ECONNRESET:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENETDOWN:
    case ENETUNREACH:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status ErrnoToStatus(int error_number, absl::string_view what, absl::string_view path) {
  char buf[256];
  // GNU strerror_r returns the message (maybe not in buf).
  const char* text = ::strerror_r(error_number, buf, sizeof(buf));
  return absl::Status(ErrnoToStatusCode(error_number), absl::StrCat(what, " ", path, ": ", text));
}

StatInfo StatInfoFromStat(const struct stat& st) {
  StatInfo info;
  info.mode = st.st_mode;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.size = static_cast<uint64_t>(st.st_size);
  info.atime_ns = ToNanos(st.st_atim);
  info.mtime_ns = ToNanos(st.st_mtim);
  info.ctime_ns = ToNanos(st.st_ctim);
  info.dev = st.st_dev;
  info.ino = st.st_ino;
  info.nlink = st.st_nlink;
  info.rdev = st.st_rdev;
  info.blocks = static_cast<uint64_t>(st.st_blocks);
  return info;
}

absl::StatusOr<StatInfo> PosixFileSystem::Lstat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, "cannot lstat", path);
  }
  return StatInfoFromStat(st);
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::ListDirectory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoToStatus(errno, "cannot open directory", path);
  }
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "cannot open directory", path);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) {
        int err = errno;
        ::closedir(dir);
        return ErrnoToStatus(err, "cannot read directory", path);
      }
      break;
    }
    const char* name = de->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
      continue;
    }
    names.emplace_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());  // std::string compares bytewise
  return names;
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> PosixFileSystem::OpenForRead(
    const std::string& path) {
  // O_NONBLOCK: a fifo put in place of a listed file must not hang the
  // backup. It has no effect on regular files and is cleared below anyway.
  constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  int fd = ::open(path.c_str(), kFlags | O_NOATIME);
  if (fd < 0 && errno == EPERM) {
    // O_NOATIME needs ownership of the file or CAP_FOWNER.
    fd = ::open(path.c_str(), kFlags);
  }
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", path, " for reading: it is a symlink (not followed)"));
    }
    return ErrnoToStatus(errno, "cannot open", path);
  }
  ScopedFd owned(fd);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) != 0) {
    (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, owned.release()));
}

absl::StatusOr<std::string> PosixFileSystem::ReadLink(const std::string& path) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) {
      if (errno == EINVAL) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot read symlink ", path, ": not a symlink"));
      }
      return ErrnoToStatus(errno, "cannot read symlink", path);
    }
    if (static_cast<size_t>(n) < target.size()) {
      target.resize(static_cast<size_t>(n));
      return target;
    }
    // Possibly truncated: grow and retry.
    target.resize(target.size() * 2);
  }
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PosixFileSystem::GetXattrs(
    const std::string& path) {
  std::vector<std::pair<std::string, std::string>> xattrs;
  // Most files have no xattrs: one llistxattr into a stack buffer.
  char small[1024];
  std::string big;
  const char* list = small;
  ssize_t len = ::llistxattr(path.c_str(), small, sizeof(small));
  while (len < 0 && errno == ERANGE) {
    ssize_t need = ::llistxattr(path.c_str(), nullptr, 0);
    if (need < 0) break;
    big.resize(static_cast<size_t>(need) + 256);
    len = ::llistxattr(path.c_str(), big.data(), big.size());
    list = big.data();
  }
  if (len < 0) {
    if (errno == ENOTSUP || errno == EOPNOTSUPP) return xattrs;
    return ErrnoToStatus(errno, "cannot list extended attributes of", path);
  }
  std::string value;
  for (ssize_t pos = 0; pos < len;) {
    const char* name = list + pos;
    size_t name_len = ::strnlen(name, static_cast<size_t>(len - pos));
    pos += static_cast<ssize_t>(name_len) + 1;
    if (name_len == 0) continue;
    value.resize(256);
    for (;;) {
      ssize_t n = ::lgetxattr(path.c_str(), name, value.data(), value.size());
      if (n >= 0) {
        value.resize(static_cast<size_t>(n));
        xattrs.emplace_back(std::string(name, name_len), value);
        break;
      }
      if (errno == ENODATA) break;  // removed since the listing
      if (errno != ERANGE) {
        return ErrnoToStatus(errno,
                             absl::StrCat("cannot read extended attribute ",
                                          absl::string_view(name, name_len), " of"),
                             path);
      }
      ssize_t need = ::lgetxattr(path.c_str(), name, nullptr, 0);
      if (need < 0) {
        if (errno == ENODATA) break;
        return ErrnoToStatus(errno,
                             absl::StrCat("cannot read extended attribute ",
                                          absl::string_view(name, name_len), " of"),
                             path);
      }
      value.resize(static_cast<size_t>(need) + 256);
    }
  }
  std::sort(xattrs.begin(), xattrs.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return xattrs;
}

FileSystem* DefaultFileSystem() {
  static FileSystem* const fs = new PosixFileSystem();
  return fs;
}

}  // namespace arca::fs
