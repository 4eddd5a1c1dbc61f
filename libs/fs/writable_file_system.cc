#include "libs/fs/writable_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace arca::fs {
namespace {

constexpr char kErrnoPayload[] = "type.arca/errno";

std::string ChildPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

std::string ProcPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

struct timespec ToTimespec(int64_t ns) {
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --sec;
  }
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem);
  return ts;
}

void ToTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns, struct timespec ts[2]) {
  if (!atime_ns.has_value()) {
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
  } else {
    ts[0] = ToTimespec(*atime_ns);
  }
  ts[1] = ToTimespec(mtime_ns);
}

absl::Status Fail(absl::string_view what, absl::string_view path) {
  return ErrnoToWriteStatus(errno, what, path);
}

// Metadata through a descriptor opened for reading or writing (a file being
// written, a directory): f*() calls.
absl::StatusOr<StatInfo> FdStat(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Fail("cannot stat", path);
  return StatInfoFromStat(st);
}

absl::Status FdSetOwner(int fd, uint32_t uid, uint32_t gid, const std::string& path) {
  if (::fchown(fd, uid, gid) != 0) return Fail("cannot set the owner of", path);
  return absl::OkStatus();
}

absl::Status FdSetMode(int fd, uint32_t mode, const std::string& path) {
  if (::fchmod(fd, mode & 07777) != 0) return Fail("cannot set the mode of", path);
  return absl::OkStatus();
}

absl::Status FdSetTimes(int fd, std::optional<int64_t> atime_ns, int64_t mtime_ns,
                        const std::string& path) {
  struct timespec ts[2];
  ToTimes(atime_ns, mtime_ns, ts);
  if (::futimens(fd, ts) != 0) return Fail("cannot set the times of", path);
  return absl::OkStatus();
}

absl::Status FdSetXattr(int fd, const std::string& name, const std::string& value,
                        const std::string& path) {
  if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
    const int err = errno;
    return ErrnoToWriteStatus(err, absl::StrCat("cannot set extended attribute ", name, " of"),
                              path);
  }
  return absl::OkStatus();
}

absl::Status FdRemoveXattr(int fd, const std::string& name, const std::string& path) {
  if (::fremovexattr(fd, name.c_str()) != 0) {
    const int err = errno;
    return ErrnoToWriteStatus(err, absl::StrCat("cannot remove extended attribute ", name, " of"),
                              path);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> FdXattrSize(int fd, const std::string& name, const std::string& path) {
  char probe;
  ssize_t n = ::fgetxattr(fd, name.c_str(), &probe, 0);  // size query
  if (n < 0) {
    const int err = errno;
    return ErrnoToWriteStatus(err, absl::StrCat("cannot query extended attribute ", name, " of"),
                              path);
  }
  return static_cast<size_t>(n);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& path() const override { return path_; }
  absl::StatusOr<StatInfo> Stat() override { return FdStat(fd_, path_); }
  absl::Status SetOwner(uint32_t uid, uint32_t gid) override {
    return FdSetOwner(fd_, uid, gid, path_);
  }
  absl::Status SetMode(uint32_t mode) override { return FdSetMode(fd_, mode, path_); }
  absl::Status SetTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns) override {
    return FdSetTimes(fd_, atime_ns, mtime_ns, path_);
  }
  absl::Status SetXattr(const std::string& name, const std::string& value) override {
    return FdSetXattr(fd_, name, value, path_);
  }
  absl::Status RemoveXattr(const std::string& name) override {
    return FdRemoveXattr(fd_, name, path_);
  }
  absl::StatusOr<size_t> XattrSize(const std::string& name) override {
    return FdXattrSize(fd_, name, path_);
  }

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    const uint8_t* p = data.data();
    size_t len = data.size();
    while (len > 0) {
      ssize_t n = ::pwrite(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        return ErrnoToWriteStatus(
            err, absl::StrCat("cannot write ", len, " bytes at offset ", offset, " of"), path_);
      }
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, absl::StrCat("cannot set the size to ", size, " of"), path_);
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    const int fd = std::exchange(fd_, -1);
    if (fd < 0) return absl::FailedPreconditionError(absl::StrCat("closing ", path_, " twice"));
    if (::close(fd) != 0) return Fail("cannot close", path_);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  int fd_;
};

// An O_PATH descriptor of a node (any type) and the directory it is in:
// chown and times by name with AT_SYMLINK_NOFOLLOW, xattrs and the mode
// through /proc/self/fd/N, which reaches the node itself.
class PosixNode final : public WritableNode {
 public:
  PosixNode(std::string path, int parent_fd, std::string name, int fd)
      : path_(std::move(path)), parent_fd_(parent_fd), name_(std::move(name)), fd_(fd) {}
  ~PosixNode() override { ::close(fd_); }

  const std::string& path() const override { return path_; }
  absl::StatusOr<StatInfo> Stat() override { return FdStat(fd_, path_); }

  absl::Status SetOwner(uint32_t uid, uint32_t gid) override {
    if (::fchownat(parent_fd_, name_.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail("cannot set the owner of", path_);
    }
    return absl::OkStatus();
  }

  absl::Status SetMode(uint32_t mode) override {
    if (::chmod(ProcPath(fd_).c_str(), mode & 07777) != 0) {
      return Fail("cannot set the mode of", path_);
    }
    return absl::OkStatus();
  }

  absl::Status SetTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns) override {
    struct timespec ts[2];
    ToTimes(atime_ns, mtime_ns, ts);
    if (::utimensat(parent_fd_, name_.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail("cannot set the times of", path_);
    }
    return absl::OkStatus();
  }

  absl::Status SetXattr(const std::string& name, const std::string& value) override {
    if (::setxattr(ProcPath(fd_).c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, absl::StrCat("cannot set extended attribute ", name, " of"),
                                path_);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveXattr(const std::string& name) override {
    if (::removexattr(ProcPath(fd_).c_str(), name.c_str()) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, absl::StrCat("cannot remove extended attribute ", name, " of"),
                                path_);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> XattrSize(const std::string& name) override {
    char probe;
    ssize_t n = ::getxattr(ProcPath(fd_).c_str(), name.c_str(), &probe, 0);
    if (n < 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, absl::StrCat("cannot query extended attribute ", name, " of"),
                                path_);
    }
    return static_cast<size_t>(n);
  }

 private:
  const std::string path_;
  const int parent_fd_;  // not owned
  const std::string name_;
  const int fd_;
};

class PosixDirectory final : public WritableDirectory {
 public:
  PosixDirectory(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixDirectory() override { ::close(fd_); }

  int fd() const { return fd_; }

  const std::string& path() const override { return path_; }
  absl::StatusOr<StatInfo> Stat() override { return FdStat(fd_, path_); }
  absl::Status SetOwner(uint32_t uid, uint32_t gid) override {
    return FdSetOwner(fd_, uid, gid, path_);
  }
  absl::Status SetMode(uint32_t mode) override { return FdSetMode(fd_, mode, path_); }
  absl::Status SetTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns) override {
    return FdSetTimes(fd_, atime_ns, mtime_ns, path_);
  }
  absl::Status SetXattr(const std::string& name, const std::string& value) override {
    return FdSetXattr(fd_, name, value, path_);
  }
  absl::Status RemoveXattr(const std::string& name) override {
    return FdRemoveXattr(fd_, name, path_);
  }
  absl::StatusOr<size_t> XattrSize(const std::string& name) override {
    return FdXattrSize(fd_, name, path_);
  }

  absl::StatusOr<std::optional<StatInfo>> Lstat(const std::string& name) override {
    struct stat st;
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return std::nullopt;
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot stat", ChildPath(path_, name));
    }
    return StatInfoFromStat(st);
  }

  absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& name, DirectoryAccess access) override {
    const int flags = access == DirectoryAccess::kLookupOnly
                          ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                          : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(fd_, name.c_str(), flags);
    if (fd < 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot open directory", ChildPath(path_, name));
    }
    return std::unique_ptr<WritableDirectory>(new PosixDirectory(ChildPath(path_, name), fd));
  }

  absl::Status MakeDirectory(const std::string& name, uint32_t mode) override {
    if (::mkdirat(fd_, name.c_str(), mode) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot create directory", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::Status RemoveDirectory(const std::string& name) override {
    if (::unlinkat(fd_, name.c_str(), AT_REMOVEDIR) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot remove directory", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::Status Unlink(const std::string& name) override {
    if (::unlinkat(fd_, name.c_str(), 0) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot remove", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> CreateFile(const std::string& name,
                                                           uint32_t mode) override {
    int fd = ::openat(fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      static_cast<mode_t>(mode));
    if (fd < 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot create file", ChildPath(path_, name));
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(ChildPath(path_, name), fd));
  }

  absl::Status CreateSymlink(const std::string& name, const std::string& target) override {
    if (::symlinkat(target.c_str(), fd_, name.c_str()) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot create symlink", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::Status CreateFifo(const std::string& name, uint32_t mode) override {
    if (::mkfifoat(fd_, name.c_str(), static_cast<mode_t>(mode)) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot create fifo", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::Status CreateDevice(const std::string& name, uint32_t type, uint32_t mode,
                            uint64_t rdev) override {
    if (::mknodat(fd_, name.c_str(), static_cast<mode_t>(type | mode), static_cast<dev_t>(rdev)) !=
        0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot create device node", ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::Status Link(WritableDirectory& from, const std::string& from_name,
                    const std::string& name) override {
    auto* posix_from = dynamic_cast<PosixDirectory*>(&from);
    if (posix_from == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot link ", ChildPath(path_, name), " to ", ChildPath(from.path(), from_name),
          ": the source directory is not from the same file system"));
    }
    if (::linkat(posix_from->fd(), from_name.c_str(), fd_, name.c_str(), 0) != 0) {
      const int err = errno;
      return ErrnoToWriteStatus(
          err, absl::StrCat("cannot link to ", ChildPath(from.path(), from_name), " as"),
          ChildPath(path_, name));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<WritableNode>> OpenNode(const std::string& name) override {
    int fd = ::openat(fd_, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot open", ChildPath(path_, name));
    }
    return std::unique_ptr<WritableNode>(new PosixNode(ChildPath(path_, name), fd_, name, fd));
  }

  absl::StatusOr<std::vector<std::string>> ListNames() override {
    // fdopendir takes the descriptor it is given: read through a duplicate
    // opened on "." (a fresh file offset), so this handle stays usable.
    const int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      return ErrnoToWriteStatus(err, "cannot list directory", path_);
    }
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      const int err = errno;
      ::close(fd);
      return ErrnoToWriteStatus(err, "cannot list directory", path_);
    }
    std::vector<std::string> names;
    while (true) {
      errno = 0;
      struct dirent* d = ::readdir(dir);
      if (d == nullptr) break;
      const std::string name = d->d_name;
      if (name == "." || name == "..") continue;
      names.push_back(name);
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoToWriteStatus(err, "cannot list directory", path_);
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::StatusOr<std::string> ReadSymlink(const std::string& name) override {
    std::string buf(256, '\0');
    while (true) {
      const ssize_t n = ::readlinkat(fd_, name.c_str(), buf.data(), buf.size());
      if (n < 0) {
        const int err = errno;
        return ErrnoToWriteStatus(err, "cannot read symlink", ChildPath(path_, name));
      }
      if (static_cast<size_t>(n) < buf.size()) {
        buf.resize(static_cast<size_t>(n));
        return buf;
      }
      buf.resize(buf.size() * 4);
    }
  }

 private:
  const std::string path_;
  const int fd_;
};

}  // namespace

absl::StatusOr<std::optional<StatInfo>> PosixWritableFileSystem::Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return Fail("cannot stat", path);
  }
  return StatInfoFromStat(st);
}

absl::Status PosixWritableFileSystem::MakeDirectory(const std::string& path, uint32_t mode) {
  if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return Fail("cannot create directory", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableDirectory>> PosixWritableFileSystem::OpenDirectory(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail("cannot open directory", path);
  return std::unique_ptr<WritableDirectory>(new PosixDirectory(path, fd));
}

WritableFileSystem* DefaultWritableFileSystem() {
  static WritableFileSystem* const fs = new PosixWritableFileSystem();
  return fs;
}

absl::Status ErrnoToWriteStatus(int error_number, absl::string_view what, absl::string_view path) {
  absl::Status status = ErrnoToStatus(error_number, what, path);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error_number)));
  return status;
}

int StatusErrno(const absl::Status& status) {
  if (status.ok()) return 0;
  auto payload = status.GetPayload(kErrnoPayload);  // absl::optional in this abseil
  int error_number = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &error_number)) return 0;
  return error_number;
}

}  // namespace arca::fs
