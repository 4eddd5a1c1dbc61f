#include "libs/restore/tree_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/status_macros.h"
#include "libs/fs/posix_acl.h"

namespace arca {
namespace {

constexpr char kAclAccess[] = "system.posix_acl_access";
constexpr char kAclDefault[] = "system.posix_acl_default";

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A path for messages: bytes as they are, control characters escaped.
std::string Shown(absl::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// What the operator can do about a failed call.
const char* Advice(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "free space on the target file system and retry";
    case EACCES:
    case EPERM:
      return "run the restore as root or choose a target you may write";
    case EROFS:
      return "the target file system is read-only; choose another target";
    case ENAMETOOLONG:
      return "the target file system does not accept this name";
    default:
      return "check the target file system";
  }
}

absl::Status ErrnoError(int err, const std::string& what) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", strerror(err), "; ", Advice(err)));
}

std::string ProcPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

// Splits a stored path into components; "" is the root (no components).
absl::StatusOr<std::vector<std::string>> SplitStoredPath(const std::string& path,
                                                         const std::string& target) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  auto refuse = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to restore '", Shown(path), "': it would write outside ", target,
                     " (stored paths must be relative, '/'-separated, without "
                     "empty, '.' or '..' components or NUL bytes; the snapshot "
                     "is damaged or hostile)"));
  };
  if (path.find('\0') != std::string::npos) return refuse();
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string comp =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty() || comp == "." || comp == "..") return refuse();
    out.push_back(std::move(comp));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

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

// atime 0 means "not captured": leave it as the restore set it.
void EntryTimes(const v1::Entry& e, struct timespec ts[2]) {
  if (e.atime_ns() == 0) {
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
  } else {
    ts[0] = ToTimespec(e.atime_ns());
  }
  ts[1] = ToTimespec(e.mtime_ns());
}

bool IsXattrWarning(int err) {
  return err == ENOTSUP || err == EPERM || err == E2BIG || err == ERANGE;
}

absl::Status PwriteAll(int fd, const uint8_t* data, size_t len, uint64_t off,
                       const std::string& shown) {
  while (len > 0) {
    ssize_t n = pwrite(fd, data, len, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved_errno = errno;
      return ErrnoError(saved_errno, absl::StrCat("cannot write ", len, " bytes at offset ", off,
                                                  " of '", shown, "'"));
    }
    data += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

const char* TypeName(v1::EntryType t) {
  switch (t) {
    case v1::ENTRY_TYPE_REGULAR:
      return "regular file";
    case v1::ENTRY_TYPE_DIRECTORY:
      return "directory";
    case v1::ENTRY_TYPE_SYMLINK:
      return "symlink";
    case v1::ENTRY_TYPE_HARDLINK:
      return "hardlink";
    case v1::ENTRY_TYPE_FIFO:
      return "fifo";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "character device";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "block device";
    case v1::ENTRY_TYPE_SOCKET:
      return "socket";
    default:
      return "unknown type";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TreeWriter>> TreeWriter::Open(const std::string& target) {
  if (target.empty()) {
    return absl::InvalidArgumentError("restore target is empty; name a directory to restore into");
  }
  struct stat st;
  if (stat(target.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore target ", target,
                       " exists and is not a directory; remove it or choose "
                       "another target"));
    }
  } else if (errno == ENOENT) {
    // mkdir -p, 0700: the root entry's metadata fixes the last one at Finish.
    for (size_t pos = 1; pos <= target.size(); ++pos) {
      if (pos != target.size() && target[pos] != '/') continue;
      std::string prefix = target.substr(0, pos);
      if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
        const int saved_errno = errno;
        return ErrnoError(saved_errno, absl::StrCat("cannot create directory ", prefix,
                                                    " for restore target ", target));
      }
    }
  } else {
    return ErrnoError(errno, absl::StrCat("cannot inspect restore target ", target));
  }
  int fd = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore target ", target,
                       " is not a directory; remove it or choose another "
                       "target"));
    }
    return ErrnoError(errno, absl::StrCat("cannot open restore target ", target));
  }
  return std::unique_ptr<TreeWriter>(new TreeWriter(target, fd));
}

TreeWriter::TreeWriter(std::string target, int root_fd) : target_(std::move(target)) {
  DirLevel root;
  root.fd = root_fd;
  char probe;
  root.inherits_acl = fgetxattr(root_fd, kAclDefault, &probe, 0) > 0;  // size query
  stack_.push_back(std::move(root));
}

TreeWriter::~TreeWriter() {
  if (file_.fd >= 0) close(file_.fd);
  for (DirLevel& level : stack_) {
    if (level.fd >= 0) close(level.fd);
  }
}

std::string TreeWriter::StackPath() const {
  std::string out;
  for (size_t i = 1; i < stack_.size(); ++i) {
    if (i > 1) out += '/';
    out += stack_[i].name;
  }
  return out;
}

void TreeWriter::PopTo(size_t depth) {
  while (stack_.size() > depth + 1) {
    close(stack_.back().fd);
    stack_.pop_back();
  }
}

absl::Status TreeWriter::ChangeDir(const std::vector<std::string>& components, bool create) {
  size_t common = 0;
  while (common < components.size() && common + 1 < stack_.size() &&
         stack_[common + 1].name == components[common]) {
    ++common;
  }
  PopTo(common);
  for (size_t i = common; i < components.size(); ++i) {
    const std::string& name = components[i];
    int parent = top_fd();
    auto shown = [&]() {
      std::string p = StackPath();
      return Shown(p.empty() ? name : absl::StrCat(p, "/", name));
    };
    int fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && create) {
      int err = errno;
      bool replace = false;
      if (err == ELOOP || err == ENOTDIR) {
        struct stat st;
        if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
          replace = true;  // a symlink or file where a directory must be
        }
      }
      if (replace && unlinkat(parent, name.c_str(), 0) != 0) {
        const int saved_errno = errno;
        return ErrnoError(saved_errno, absl::StrCat("cannot remove '", shown(), "' in ", target_,
                                                    " to make room for a directory"));
      }
      if (replace || err == ENOENT) {
        if (mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) {
          return ErrnoError(errno,
                            absl::StrCat("cannot create directory '", shown(), "' in ", target_));
        }
        fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      } else {
        errno = err;
      }
    }
    if (fd < 0) {
      const int saved_errno = errno;
      return ErrnoError(saved_errno,
                        absl::StrCat("cannot open directory '", shown(), "' in ", target_));
    }
    DirLevel level;
    level.name = name;
    level.fd = fd;
    char probe;
    level.inherits_acl = fgetxattr(fd, kAclDefault, &probe, 0) > 0;
    stack_.push_back(std::move(level));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ClearName(const std::string& name, const std::string& path, bool* is_dir,
                                   bool remove_empty_dir) {
  if (is_dir != nullptr) *is_dir = false;
  struct stat st;
  if (fstatat(top_fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot inspect '", Shown(path), "' in ", target_));
  }
  if (S_ISDIR(st.st_mode)) {
    if (is_dir != nullptr) {
      *is_dir = true;
      return absl::OkStatus();
    }
    int err = ENOTEMPTY;
    if (remove_empty_dir) {
      if (unlinkat(top_fd(), name.c_str(), AT_REMOVEDIR) == 0) {
        return absl::OkStatus();
      }
      err = errno;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("a directory stands at '", Shown(path), "' in ", target_,
                     " where the snapshot has a non-directory and it cannot be removed (",
                     strerror(err), "); remove it, or restore into an empty directory"));
  }
  if (unlinkat(top_fd(), name.c_str(), 0) != 0 && errno != ENOENT) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno,
                      absl::StrCat("cannot remove existing '", Shown(path), "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginEntry(const v1::Entry& entry) {
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("BeginEntry('", Shown(entry.path()), "') after Finish; use a new TreeWriter"));
  }
  if (in_entry_) {
    return absl::FailedPreconditionError(absl::StrCat("BeginEntry('", Shown(entry.path()),
                                                      "') while '", Shown(current_.path()),
                                                      "' is not finished; call FinishEntry first"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> components, SplitStoredPath(entry.path(), target_));
  const v1::EntryType type = entry.type();
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
    case v1::ENTRY_TYPE_DIRECTORY:
    case v1::ENTRY_TYPE_SYMLINK:
    case v1::ENTRY_TYPE_HARDLINK:
    case v1::ENTRY_TYPE_FIFO:
    case v1::ENTRY_TYPE_CHAR_DEVICE:
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore '", Shown(entry.path()), "': entry type ", TypeName(type),
                       " (", static_cast<int>(type),
                       ") is not restorable; the snapshot is damaged or from a newer "
                       "arca"));
  }
  if (components.empty()) {
    if (type != v1::ENTRY_TYPE_DIRECTORY) {
      return absl::InvalidArgumentError(absl::StrCat("cannot restore the root entry into ", target_,
                                                     ": it is a ", TypeName(type),
                                                     ", not a directory; the snapshot is damaged"));
    }
    current_ = entry;
    current_name_.clear();
    in_entry_ = true;
    skipped_entry_ = false;
    root_entry_ = entry;
    have_root_entry_ = true;
    return absl::OkStatus();
  }

  std::string name = components.back();
  components.pop_back();
  RETURN_IF_ERROR(ChangeDir(components, /*create=*/true));
  current_ = entry;
  current_name_ = name;
  skipped_entry_ = false;
  absl::Status status;
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
      status = BeginRegular(name);
      break;
    case v1::ENTRY_TYPE_DIRECTORY:
      components.push_back(name);
      status = BeginDirectory(name, components);
      break;
    case v1::ENTRY_TYPE_HARDLINK:
      status = BeginHardlink(name);
      break;
    case v1::ENTRY_TYPE_SYMLINK:
      status = BeginNode(name, S_IFLNK);
      break;
    case v1::ENTRY_TYPE_FIFO:
      status = BeginNode(name, S_IFIFO);
      break;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      status = BeginNode(name, S_IFCHR);
      break;
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      status = BeginNode(name, S_IFBLK);
      break;
    default:
      break;
  }
  if (!status.ok()) {
    if (file_.fd >= 0) close(file_.fd);
    file_ = OpenFile();
    return status;
  }
  in_entry_ = true;
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginRegular(const std::string& name) {
  const v1::Entry& e = current_;
  uint64_t declared = e.size();
  if (e.sparse()) {
    declared = 0;
    uint64_t prev_end = 0;
    for (int i = 0; i < e.extents_size(); ++i) {
      const v1::Extent& x = e.extents(i);
      if (x.offset() < prev_end || x.length() > e.size() || x.offset() > e.size() - x.length()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("cannot restore '%s': extent %d [%d, +%d) overlaps the previous "
                            "one or lies beyond the file size %d; the snapshot's metadata is "
                            "damaged (run arca verify)",
                            Shown(e.path()), i, x.offset(), x.length(), e.size()));
      }
      prev_end = x.offset() + x.length();
      declared += x.length();
    }
  }
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, /*remove_empty_dir=*/true));
  int fd =
      openat(top_fd(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno,
                      absl::StrCat("cannot create file '", Shown(e.path()), "' in ", target_));
  }
  file_ = OpenFile();
  file_.fd = fd;
  file_.declared = declared;
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginDirectory(const std::string& name,
                                        const std::vector<std::string>& components) {
  bool is_dir = false;
  RETURN_IF_ERROR(ClearName(name, current_.path(), &is_dir, false));
  if (!is_dir && mkdirat(top_fd(), name.c_str(), 0700) != 0) {
    return ErrnoError(
        errno, absl::StrCat("cannot create directory '", Shown(current_.path()), "' in ", target_));
  }
  PendingDir pending;
  pending.entry = current_;
  pending.depth = components.size();
  pending_dirs_.push_back(std::move(pending));
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginHardlink(const std::string& name) {
  const v1::Entry& e = current_;
  ASSIGN_OR_RETURN(std::vector<std::string> tc, SplitStoredPath(e.hardlink_target(), target_));
  if (tc.empty() || e.hardlink_target() == e.path()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to restore hardlink '", Shown(e.path()), "' -> '", Shown(e.hardlink_target()),
        "': the link target must be another file of the snapshot; the "
        "snapshot is damaged"));
  }
  // Walk to the target's directory with O_PATH descriptors, one at a time.
  std::string tname = tc.back();
  tc.pop_back();
  Fd owned;
  int tdir = stack_[0].fd;
  for (const std::string& comp : tc) {
    int fd = openat(tdir, comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int saved_errno = errno;
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot restore hardlink '", Shown(e.path()), "': its target '",
          Shown(e.hardlink_target()), "' was not restored earlier (", strerror(saved_errno),
          "); restore the first name of the hardlink group too"));
    }
    owned = Fd(fd);
    tdir = fd;
  }
  struct stat st;
  if (fstatat(tdir, tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode) ||
      !link_inodes_.contains(std::make_pair(st.st_dev, st.st_ino))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot restore hardlink '", Shown(e.path()), "': its target '", Shown(e.hardlink_target()),
        "' was not restored earlier by this restore; restore the first name "
        "of the hardlink group too"));
  }
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, true));
  if (linkat(tdir, tname.c_str(), top_fd(), name.c_str(), 0) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno,
                      absl::StrCat("cannot create hardlink '", Shown(e.path()), "' to '",
                                   Shown(e.hardlink_target()), "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginNode(const std::string& name, mode_t type) {
  const v1::Entry& e = current_;
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, true));
  int rc = 0;
  if (type == S_IFLNK) {
    const std::string& t = e.symlink_target();
    if (t.empty() || t.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore symlink '", Shown(e.path()),
                       "': its target is empty or holds a NUL byte; the snapshot is "
                       "damaged"));
    }
    rc = symlinkat(t.c_str(), top_fd(), name.c_str());
  } else if (type == S_IFIFO) {
    rc = mkfifoat(top_fd(), name.c_str(), 0600);
  } else {
    rc = mknodat(top_fd(), name.c_str(), type | 0600, static_cast<dev_t>(e.rdev()));
    if (rc != 0 && errno == EPERM) {
      Warn(e.path(), absl::StrFormat("device node not restored: creating a %s "
                                     "(%d,%d) needs root (CAP_MKNOD)",
                                     TypeName(e.type()), major(e.rdev()), minor(e.rdev())));
      skipped_entry_ = true;
      return absl::OkStatus();
    }
  }
  if (rc != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot create ", TypeName(e.type()), " '",
                                                Shown(e.path()), "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::WriteData(std::span<const uint8_t> data) {
  if (!in_entry_ || current_.type() != v1::ENTRY_TYPE_REGULAR || file_.fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("WriteData without an open regular file (current entry '",
                     Shown(current_.path()), "'); call BeginEntry first"));
  }
  const v1::Entry& e = current_;
  if (data.size() > file_.declared - file_.received) {
    return absl::DataLossError(
        absl::StrCat("too much data for '", Shown(e.path()), "': ", file_.received + data.size(),
                     " bytes arrived but its entry declares ", file_.declared,
                     "; the snapshot's payload does not match its "
                     "metadata (run arca verify)"));
  }
  const std::string shown = Shown(e.path());
  if (!e.sparse()) {
    RETURN_IF_ERROR(PwriteAll(file_.fd, data.data(), data.size(), file_.received, shown));
    file_.received += data.size();
    bytes_written_ += data.size();
    return absl::OkStatus();
  }
  while (!data.empty()) {
    while (file_.extent < e.extents_size() && file_.in_extent == e.extents(file_.extent).length()) {
      ++file_.extent;
      file_.in_extent = 0;
    }
    // declared covers every byte, so an extent with room exists here.
    const v1::Extent& x = e.extents(file_.extent);
    size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), x.length() - file_.in_extent));
    RETURN_IF_ERROR(PwriteAll(file_.fd, data.data(), n, x.offset() + file_.in_extent, shown));
    file_.in_extent += n;
    file_.received += n;
    bytes_written_ += n;
    data = data.subspan(n);
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::FinishEntry() {
  if (!in_entry_) {
    return absl::FailedPreconditionError("FinishEntry without BeginEntry; call BeginEntry first");
  }
  absl::Status status;
  switch (current_.type()) {
    case v1::ENTRY_TYPE_REGULAR:
      status = FinishRegular();
      break;
    case v1::ENTRY_TYPE_SYMLINK:
    case v1::ENTRY_TYPE_FIFO:
    case v1::ENTRY_TYPE_CHAR_DEVICE:
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      if (!skipped_entry_) status = FinishNamed();
      break;
    default:  // directories (at Finish) and hardlinks (share an inode)
      break;
  }
  in_entry_ = false;
  if (status.ok() && !skipped_entry_) ++entries_written_;
  return status;
}

absl::Status TreeWriter::FinishRegular() {
  Fd fd(std::exchange(file_.fd, -1));
  const v1::Entry& e = current_;
  const std::string shown = Shown(e.path());
  if (file_.received != file_.declared) {
    return absl::DataLossError(absl::StrCat("'", shown, "' ended after ", file_.received,
                                            " of its ", file_.declared,
                                            " data bytes; the snapshot's payload is incomplete "
                                            "(run arca verify)"));
  }
  if (ftruncate(fd.get(), static_cast<off_t>(e.size())) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno,
                      absl::StrCat("cannot set the size of '", shown, "' to ", e.size()));
  }
  if (fchown(fd.get(), e.uid(), e.gid()) != 0) {
    if (errno != EPERM) {
      const int saved_errno = errno;
      return ErrnoError(saved_errno, absl::StrCat("cannot set the owner of '", shown, "'"));
    }
    Warn(e.path(), absl::StrFormat("owner %d:%d not restored: %s (needs root)", e.uid(), e.gid(),
                                   strerror(EPERM)));
  }
  RETURN_IF_ERROR(ApplyXattrs(fd.get(), false, e, shown));
  RETURN_IF_ERROR(ApplyAcls(fd.get(), false, false, stack_.back().inherits_acl, e, shown));
  if (fchmod(fd.get(), e.mode() & 07777) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno,
                      absl::StrFormat("cannot set mode %04o of '%s'", e.mode() & 07777, shown));
  }
  struct timespec ts[2];
  EntryTimes(e, ts);
  if (futimens(fd.get(), ts) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot set the times of '", shown, "'"));
  }
  if (e.nlink() != 1) {
    struct stat st;
    if (fstat(fd.get(), &st) == 0) RememberInode(st.st_dev, st.st_ino);
  }
  if (close(fd.release()) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot close '", shown, "' after writing it"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::FinishNamed() {
  const v1::Entry& e = current_;
  const std::string shown = Shown(e.path());
  const char* name = current_name_.c_str();
  const bool is_link = e.type() == v1::ENTRY_TYPE_SYMLINK;
  // An O_PATH descriptor of the node itself (never followed); xattrs and the
  // mode reach it through /proc/self/fd/N.
  Fd fd(openat(top_fd(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot open ", TypeName(e.type()), " '", shown,
                                                "' just restored"));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot stat '", shown, "'"));
  }
  mode_t want = is_link                                  ? S_IFLNK
                : e.type() == v1::ENTRY_TYPE_FIFO        ? S_IFIFO
                : e.type() == v1::ENTRY_TYPE_CHAR_DEVICE ? S_IFCHR
                                                         : S_IFBLK;
  if ((st.st_mode & S_IFMT) != want) {
    return absl::AbortedError(
        absl::StrCat("'", shown, "' in ", target_,
                     " changed type while it was restored; something else writes to the "
                     "target: stop it and restore again"));
  }
  if (fchownat(top_fd(), name, e.uid(), e.gid(), AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != EPERM) {
      const int saved_errno = errno;
      return ErrnoError(saved_errno, absl::StrCat("cannot set the owner of '", shown, "'"));
    }
    Warn(e.path(), absl::StrFormat("owner %d:%d not restored: %s (needs root)", e.uid(), e.gid(),
                                   strerror(EPERM)));
  }
  RETURN_IF_ERROR(ApplyXattrs(fd.get(), true, e, shown));
  if (!is_link) {
    RETURN_IF_ERROR(ApplyAcls(fd.get(), true, false, stack_.back().inherits_acl, e, shown));
    if (chmod(ProcPath(fd.get()).c_str(), e.mode() & 07777) != 0) {
      const int saved_errno = errno;
      return ErrnoError(saved_errno,
                        absl::StrFormat("cannot set mode %04o of '%s'", e.mode() & 07777, shown));
    }
  }
  struct timespec ts[2];
  EntryTimes(e, ts);
  if (utimensat(top_fd(), name, ts, AT_SYMLINK_NOFOLLOW) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot set the times of '", shown, "'"));
  }
  if (e.nlink() != 1 && !is_link) RememberInode(st.st_dev, st.st_ino);
  return absl::OkStatus();
}

int TreeWriter::SetXattr(int fd, bool via_proc, const std::string& name, const std::string& value) {
  int rc = via_proc ? setxattr(ProcPath(fd).c_str(), name.c_str(), value.data(), value.size(), 0)
                    : fsetxattr(fd, name.c_str(), value.data(), value.size(), 0);
  return rc == 0 ? 0 : errno;
}

absl::Status TreeWriter::ApplyXattrs(int fd, bool via_proc, const v1::Entry& e,
                                     const std::string& shown) {
  for (const v1::Xattr& x : e.xattrs()) {
    if (x.name().empty() || x.name().find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore '", shown,
                       "': an extended attribute name is empty "
                       "or holds a NUL byte; the snapshot is damaged"));
    }
    int err = SetXattr(fd, via_proc, x.name(), x.value());
    if (err == 0) continue;
    if (!IsXattrWarning(err)) {
      return ErrnoError(err, absl::StrCat("cannot set extended attribute '", Shown(x.name()),
                                          "' on '", shown, "'"));
    }
    Warn(e.path(),
         absl::StrCat("extended attribute '", Shown(x.name()), "' not restored: ", strerror(err),
                      " (the target file system or the node type "
                      "does not accept it)"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ApplyAcls(int fd, bool via_proc, bool is_dir, bool inherited,
                                   const v1::Entry& e, const std::string& shown) {
  struct Kind {
    const char* xattr;
    const google::protobuf::RepeatedPtrField<v1::AclEntry>* acl;
    bool applies;
  };
  const Kind kinds[] = {{kAclAccess, &e.acl_access(), true},
                        {kAclDefault, &e.acl_default(), is_dir}};
  for (const Kind& k : kinds) {
    if (!k.applies) {
      if (!k.acl->empty()) {
        Warn(e.path(), "default ACL ignored: only directories have one");
      }
      continue;
    }
    if (k.acl->empty()) {
      if (!inherited) continue;
      // Remove what a default ACL of the parent (or an earlier tree) put
      // there: the snapshot says there is none.
      int rc = via_proc ? removexattr(ProcPath(fd).c_str(), k.xattr) : fremovexattr(fd, k.xattr);
      if (rc != 0 && errno != ENODATA && errno != ENOTSUP) {
        const int saved_errno = errno;
        return ErrnoError(saved_errno,
                          absl::StrCat("cannot remove inherited ", k.xattr, " from '", shown, "'"));
      }
      continue;
    }
    int err = SetXattr(fd, via_proc, k.xattr, fs::EncodePosixAclXattr(*k.acl));
    if (err == 0) continue;
    if (err == EINVAL) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore the ", k.xattr, " ACL of '", shown,
                       "': the kernel rejects it as invalid; the snapshot is damaged"));
    }
    if (!IsXattrWarning(err)) {
      return ErrnoError(err, absl::StrCat("cannot set the ", k.xattr, " ACL of '", shown, "'"));
    }
    Warn(e.path(), absl::StrCat("POSIX ACL (", k.xattr, ") not restored: ", strerror(err),
                                " (the target file system does not support "
                                "ACLs)"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ApplyDirMetadata(int fd, const v1::Entry& e, const std::string& shown) {
  if (fchown(fd, e.uid(), e.gid()) != 0) {
    if (errno != EPERM) {
      const int saved_errno = errno;
      return ErrnoError(saved_errno, absl::StrCat("cannot set the owner of "
                                                  "directory '",
                                                  shown, "'"));
    }
    Warn(e.path(), absl::StrFormat("owner %d:%d not restored: %s (needs root)", e.uid(), e.gid(),
                                   strerror(EPERM)));
  }
  RETURN_IF_ERROR(ApplyXattrs(fd, false, e, shown));
  RETURN_IF_ERROR(ApplyAcls(fd, false, true, /*inherited=*/true, e, shown));
  if (fchmod(fd, e.mode() & 07777) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrFormat("cannot set mode %04o of "
                                                   "directory '%s'",
                                                   e.mode() & 07777, shown));
  }
  struct timespec ts[2];
  EntryTimes(e, ts);
  if (futimens(fd, ts) != 0) {
    const int saved_errno = errno;
    return ErrnoError(saved_errno, absl::StrCat("cannot set the times of directory '", shown, "'"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError(
        "TreeWriter::Finish called twice; call it once at the end");
  }
  if (in_entry_) {
    return absl::FailedPreconditionError(absl::StrCat("Finish while '", Shown(current_.path()),
                                                      "' is not finished; call FinishEntry first"));
  }
  finished_ = true;
  // Deepest first, so that a parent's mode and mtime are set after every
  // change below it; ties keep archive order (a later duplicate wins).
  std::stable_sort(pending_dirs_.begin(), pending_dirs_.end(),
                   [](const PendingDir& a, const PendingDir& b) { return a.depth > b.depth; });
  for (const PendingDir& d : pending_dirs_) {
    ASSIGN_OR_RETURN(std::vector<std::string> comps, SplitStoredPath(d.entry.path(), target_));
    RETURN_IF_ERROR(ChangeDir(comps, /*create=*/false));
    RETURN_IF_ERROR(ApplyDirMetadata(top_fd(), d.entry, Shown(d.entry.path())));
  }
  pending_dirs_.clear();
  PopTo(0);
  if (have_root_entry_) {
    RETURN_IF_ERROR(ApplyDirMetadata(stack_[0].fd, root_entry_, ""));
  }
  return absl::OkStatus();
}

void TreeWriter::RememberInode(dev_t dev, ino_t ino) {
  link_inodes_.insert(std::make_pair(dev, ino));
}

void TreeWriter::Warn(const std::string& path, const std::string& message) {
  v1::Warning w;
  w.set_phase(v1::PHASE_RESTORE);
  w.set_path(path);
  w.set_message(message);
  warnings_.push_back(std::move(w));
}

std::vector<v1::Warning> TreeWriter::TakeWarnings() { return std::exchange(warnings_, {}); }

}  // namespace arca
