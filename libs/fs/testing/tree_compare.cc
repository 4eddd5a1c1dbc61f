#include "libs/fs/testing/tree_compare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace arca::testing {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Shown(const std::string& rel) {
  if (rel.empty()) return "'.'";
  std::string out = "'";
  for (unsigned char c : rel) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::string Printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() > 200) out = out.substr(0, 200) + "...";
  return "\"" + out + "\"";
}

const char* TypeName(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG:
      return "regular file";
    case S_IFDIR:
      return "directory";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    case S_IFCHR:
      return "character device";
    case S_IFBLK:
      return "block device";
    case S_IFSOCK:
      return "socket";
    default:
      return "unknown";
  }
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool Compared(const std::string& name) {
  return absl::StartsWith(name, "user.") || absl::StartsWith(name, "security.") ||
         absl::StartsWith(name, "trusted.") || name == "system.posix_acl_access" ||
         name == "system.posix_acl_default";
}

// Reads the compared xattrs of the node behind an O_PATH descriptor.
bool ReadXattrs(int path_fd, std::map<std::string, std::string>* out, std::string* error) {
  const std::string proc = absl::StrCat("/proc/self/fd/", path_fd);
  ssize_t n = listxattr(proc.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return true;
    *error = absl::StrCat("listxattr: ", strerror(errno));
    return false;
  }
  std::string names(static_cast<size_t>(n), '\0');
  n = listxattr(proc.c_str(), names.data(), names.size());
  if (n < 0) {
    *error = absl::StrCat("listxattr: ", strerror(errno));
    return false;
  }
  names.resize(static_cast<size_t>(n));
  size_t pos = 0;
  while (pos < names.size()) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (!Compared(name)) continue;
    ssize_t len = getxattr(proc.c_str(), name.c_str(), nullptr, 0);
    if (len < 0) {
      *error = absl::StrCat("getxattr ", name, ": ", strerror(errno));
      return false;
    }
    std::string value(static_cast<size_t>(len), '\0');
    len = getxattr(proc.c_str(), name.c_str(), value.data(), value.size());
    if (len < 0) {
      *error = absl::StrCat("getxattr ", name, ": ", strerror(errno));
      return false;
    }
    value.resize(static_cast<size_t>(len));
    (*out)[name] = std::move(value);
  }
  return true;
}

bool ReadAllAt(int fd, char* buf, size_t len, off_t off) {
  while (len > 0) {
    ssize_t n = pread(fd, buf, len, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
    off += n;
  }
  return true;
}

// Next data offset at or after `pos`, `size` if only a hole follows.
off_t NextData(int fd, off_t pos, off_t size) {
  off_t d = lseek(fd, pos, SEEK_DATA);
  if (d < 0) return errno == ENXIO ? size : pos;  // no SEEK_DATA: read all
  return std::min(d, size);
}

// Compares `size` bytes of two files. Returns "" or the problem.
std::string CompareContent(int efd, int afd, off_t size) {
  constexpr size_t kChunk = 1 << 20;
  std::string eb(kChunk, '\0'), ab(kChunk, '\0');
  off_t pos = 0;
  while (pos < size) {
    off_t next = std::min(NextData(efd, pos, size), NextData(afd, pos, size));
    if (next >= size) break;  // holes in both up to the end
    size_t len = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(kChunk), size - next));
    if (!ReadAllAt(efd, eb.data(), len, next)) {
      return absl::StrCat("cannot read expected at offset ", next);
    }
    if (!ReadAllAt(afd, ab.data(), len, next)) {
      return absl::StrCat("cannot read actual at offset ", next);
    }
    if (memcmp(eb.data(), ab.data(), len) != 0) {
      size_t i = 0;
      while (eb[i] == ab[i]) ++i;
      return absl::StrCat("first difference at byte ", next + i);
    }
    pos = next + static_cast<off_t>(len);
  }
  return "";
}

using InodeKey = std::pair<dev_t, ino_t>;

struct LinkTable {
  absl::flat_hash_map<std::string, InodeKey> path_inode;
  absl::flat_hash_map<InodeKey, std::vector<std::string>> groups;

  void Add(const std::string& rel, const struct stat& st) {
    InodeKey k{st.st_dev, st.st_ino};
    path_inode[rel] = k;
    groups[k].push_back(rel);
  }
  // The other paths that share rel's inode, sorted.
  std::vector<std::string> Others(const std::string& rel) const {
    std::vector<std::string> out;
    auto it = path_inode.find(rel);
    if (it == path_inode.end()) return out;
    for (const std::string& p : groups.at(it->second)) {
      if (p != rel) out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

class Comparer {
 public:
  explicit Comparer(const CompareOptions& opts) : opts_(opts) {}

  void Run(const std::string& expected_root, const std::string& actual_root) {
    Fd e(open(expected_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    Fd a(open(actual_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (e.get() < 0) {
      Add(absl::StrCat("error: cannot open expected root ", expected_root, ": ", strerror(errno)));
    }
    if (a.get() < 0) {
      Add(absl::StrCat("error: cannot open actual root ", actual_root, ": ", strerror(errno)));
    }
    if (e.get() < 0 || a.get() < 0) return;
    if (opts_.compare_root_metadata) {
      struct stat es, as;
      fstat(e.get(), &es);
      fstat(a.get(), &as);
      Fd ep(openat(e.get(), ".", O_PATH | O_CLOEXEC));
      Fd ap(openat(a.get(), ".", O_PATH | O_CLOEXEC));
      CompareMetadata("", es, as, ep.get(), ap.get());
    }
    CompareDir(e.get(), a.get(), "");
    CompareLinks();
  }

  std::vector<std::string> Take() { return std::move(out_); }

 private:
  void Add(std::string line) { out_.push_back(std::move(line)); }

  bool Ignored(const std::string& rel) const {
    for (const std::string& ig : opts_.ignore_paths) {
      if (rel == ig ||
          (absl::StartsWith(rel, ig) && rel.size() > ig.size() && rel[ig.size()] == '/')) {
        return true;
      }
    }
    return false;
  }

  // Sorted names of a directory, or an error line.
  bool ListDir(int dir_fd, const std::string& rel, const char* which,
               std::vector<std::string>* names) {
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd < 0 ? nullptr : fdopendir(fd);
    if (d == nullptr) {
      Add(absl::StrCat("error: cannot list ", which, " ", Shown(rel), ": ", strerror(errno)));
      if (fd >= 0) close(fd);
      return false;
    }
    while (struct dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      names->push_back(std::move(n));
    }
    closedir(d);
    std::sort(names->begin(), names->end());
    return true;
  }

  void CompareDir(int efd, int afd, const std::string& rel) {
    std::vector<std::string> en, an;
    if (!ListDir(efd, rel, "expected", &en) || !ListDir(afd, rel, "actual", &an)) {
      return;
    }
    size_t i = 0, j = 0;
    while (i < en.size() || j < an.size()) {
      if (j == an.size() || (i < en.size() && en[i] < an[j])) {
        std::string r = Join(rel, en[i]);
        if (!Ignored(r)) {
          struct stat st {};
          fstatat(efd, en[i].c_str(), &st, AT_SYMLINK_NOFOLLOW);
          Add(absl::StrCat("missing: ", Shown(r), " (", TypeName(st.st_mode),
                           ") is in expected but not in actual"));
        }
        ++i;
      } else if (i == en.size() || an[j] < en[i]) {
        std::string r = Join(rel, an[j]);
        if (!Ignored(r)) {
          struct stat st {};
          fstatat(afd, an[j].c_str(), &st, AT_SYMLINK_NOFOLLOW);
          Add(absl::StrCat("extra: ", Shown(r), " (", TypeName(st.st_mode),
                           ") is in actual but not in expected"));
        }
        ++j;
      } else {
        std::string r = Join(rel, en[i]);
        if (!Ignored(r)) CompareNode(efd, afd, en[i], r);
        ++i;
        ++j;
      }
    }
  }

  void CompareNode(int efd, int afd, const std::string& name, const std::string& rel) {
    Fd ep(openat(efd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    Fd ap(openat(afd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat es, as;
    if (ep.get() < 0 || fstat(ep.get(), &es) != 0) {
      Add(absl::StrCat("error: cannot stat expected ", Shown(rel), ": ", strerror(errno)));
      return;
    }
    if (ap.get() < 0 || fstat(ap.get(), &as) != 0) {
      Add(absl::StrCat("error: cannot stat actual ", Shown(rel), ": ", strerror(errno)));
      return;
    }
    if ((es.st_mode & S_IFMT) != (as.st_mode & S_IFMT)) {
      Add(absl::StrCat("type: ", Shown(rel), ": expected ", TypeName(es.st_mode), ", actual ",
                       TypeName(as.st_mode)));
      return;
    }
    CompareMetadata(rel, es, as, ep.get(), ap.get());
    if (!S_ISDIR(es.st_mode)) {
      if (es.st_nlink > 1) expected_links_.Add(rel, es);
      if (as.st_nlink > 1) actual_links_.Add(rel, as);
    }
    if (S_ISREG(es.st_mode)) {
      CompareRegular(efd, afd, name, rel, es, as);
    } else if (S_ISLNK(es.st_mode)) {
      std::string et = ReadLink(efd, name), at = ReadLink(afd, name);
      if (et != at) {
        Add(absl::StrCat("symlink: ", Shown(rel), ": expected target ", Printable(et), ", actual ",
                         Printable(at)));
      }
    } else if (S_ISCHR(es.st_mode) || S_ISBLK(es.st_mode)) {
      if (es.st_rdev != as.st_rdev) {
        Add(absl::StrFormat("rdev: %s: expected %u,%u, actual %u,%u", Shown(rel), major(es.st_rdev),
                            minor(es.st_rdev), major(as.st_rdev), minor(as.st_rdev)));
      }
    } else if (S_ISDIR(es.st_mode)) {
      Fd ed(openat(efd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      Fd ad(openat(afd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (ed.get() < 0 || ad.get() < 0) {
        Add(absl::StrCat("error: cannot open directory ", Shown(rel), ": ", strerror(errno)));
        return;
      }
      CompareDir(ed.get(), ad.get(), rel);
    }
  }

  static std::string ReadLink(int dir_fd, const std::string& name) {
    std::string buf(4096, '\0');
    ssize_t n = readlinkat(dir_fd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return absl::StrCat("<unreadable: ", strerror(errno), ">");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  void CompareMetadata(const std::string& rel, const struct stat& es, const struct stat& as, int ep,
                       int ap) {
    const bool link = S_ISLNK(es.st_mode);
    if (!link && (es.st_mode & 07777) != (as.st_mode & 07777)) {
      Add(absl::StrFormat("mode: %s: expected %04o, actual %04o", Shown(rel), es.st_mode & 07777,
                          as.st_mode & 07777));
    }
    if (es.st_uid != as.st_uid) {
      Add(absl::StrFormat("uid: %s: expected %u, actual %u", Shown(rel), es.st_uid, as.st_uid));
    }
    if (es.st_gid != as.st_gid) {
      Add(absl::StrFormat("gid: %s: expected %u, actual %u", Shown(rel), es.st_gid, as.st_gid));
    }
    if ((!link || opts_.symlink_mtime) &&
        (es.st_mtim.tv_sec != as.st_mtim.tv_sec || es.st_mtim.tv_nsec != as.st_mtim.tv_nsec)) {
      Add(absl::StrFormat("mtime: %s: expected %d.%09d, actual %d.%09d", Shown(rel),
                          es.st_mtim.tv_sec, es.st_mtim.tv_nsec, as.st_mtim.tv_sec,
                          as.st_mtim.tv_nsec));
    }
    if ((S_ISREG(es.st_mode) || link) && es.st_size != as.st_size) {
      Add(absl::StrFormat("size: %s: expected %d bytes, actual %d", Shown(rel), es.st_size,
                          as.st_size));
    }
    std::map<std::string, std::string> ex, ax;
    std::string err;
    if (!ReadXattrs(ep, &ex, &err)) {
      Add(absl::StrCat("error: expected ", Shown(rel), ": ", err));
      return;
    }
    if (!ReadXattrs(ap, &ax, &err)) {
      Add(absl::StrCat("error: actual ", Shown(rel), ": ", err));
      return;
    }
    auto kind = [](const std::string& n) {
      return absl::StartsWith(n, "system.posix_acl_") ? "acl: " : "xattr: ";
    };
    for (const auto& [n, v] : ex) {
      auto it = ax.find(n);
      if (it == ax.end()) {
        Add(absl::StrCat(kind(n), Shown(rel), ": ", n, " is missing in actual (expected ",
                         Printable(v), ")"));
      } else if (it->second != v) {
        Add(absl::StrCat(kind(n), Shown(rel), ": ", n, " expected ", Printable(v), ", actual ",
                         Printable(it->second)));
      }
    }
    for (const auto& [n, v] : ax) {
      if (!ex.contains(n)) {
        Add(absl::StrCat(kind(n), Shown(rel), ": ", n, " is only in actual (", Printable(v), ")"));
      }
    }
  }

  void CompareRegular(int efd, int afd, const std::string& name, const std::string& rel,
                      const struct stat& es, const struct stat& as) {
    if (es.st_blocks * 512 < es.st_size / 2 && !(as.st_blocks * 512 < as.st_size / 2)) {
      Add(
          absl::StrFormat("sparse: %s: expected is sparse (%d of %d bytes allocated), actual "
                          "allocates %d",
                          Shown(rel), es.st_blocks * 512, es.st_size, as.st_blocks * 512));
    }
    if (es.st_size != as.st_size) return;  // reported as size
    Fd e(openat(efd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    Fd a(openat(afd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (e.get() < 0 || a.get() < 0) {
      Add(absl::StrCat("error: cannot open ", Shown(rel), " to compare: ", strerror(errno)));
      return;
    }
    std::string problem = CompareContent(e.get(), a.get(), es.st_size);
    if (!problem.empty()) {
      Add(absl::StrCat("content: ", Shown(rel), ": ", problem));
    }
  }

  void CompareLinks() {
    std::vector<std::string> paths;
    for (const auto& [p, k] : expected_links_.path_inode) paths.push_back(p);
    for (const auto& [p, k] : actual_links_.path_inode) {
      if (!expected_links_.path_inode.contains(p)) paths.push_back(p);
    }
    std::sort(paths.begin(), paths.end());
    auto list = [](const std::vector<std::string>& v) {
      std::vector<std::string> shown;
      for (const std::string& p : v) shown.push_back(Shown(p));
      return absl::StrCat("[", absl::StrJoin(shown, ", "), "]");
    };
    for (const std::string& p : paths) {
      std::vector<std::string> e = expected_links_.Others(p);
      std::vector<std::string> a = actual_links_.Others(p);
      if (e != a) {
        Add(absl::StrCat("hardlink: ", Shown(p), ": in expected it shares its inode with ", list(e),
                         ", in actual with ", list(a)));
      }
    }
  }

  const CompareOptions& opts_;
  std::vector<std::string> out_;
  LinkTable expected_links_;
  LinkTable actual_links_;
};

}  // namespace

std::vector<std::string> CompareTrees(const std::string& expected_root,
                                      const std::string& actual_root, const CompareOptions& opts) {
  Comparer c(opts);
  c.Run(expected_root, actual_root);
  return c.Take();
}

}  // namespace arca::testing
