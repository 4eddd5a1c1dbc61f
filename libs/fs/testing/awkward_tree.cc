#include "libs/fs/testing/awkward_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/status_macros.h"

namespace arca::testing {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  int err = errno;
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat("MakeAwkwardTree: ", what, " ", path, ": ", strerror(err)));
}

// splitmix64: small, fast, deterministic.
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  void Fill(char* buf, size_t len) {
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      uint64_t v = Next();
      memcpy(buf + i, &v, 8);
    }
    if (i < len) {
      uint64_t v = Next();
      memcpy(buf + i, &v, len - i);
    }
  }

 private:
  uint64_t state_;
};

class Builder {
 public:
  Builder(std::string root, const AwkwardTreeOptions& opts) : root_(std::move(root)), opts_(opts) {}

  absl::Status Build() {
    RETURN_IF_ERROR(MkdirP(root_));
    RETURN_IF_ERROR(File("empty_file", ""));
    RETURN_IF_ERROR(Dir("empty_dir"));
    RETURN_IF_ERROR(Large());
    RETURN_IF_ERROR(Dir("dups"));
    RETURN_IF_ERROR(File("dups/a.txt", "the same bytes in two files\n"));
    RETURN_IF_ERROR(File("dups/b.txt", "the same bytes in two files\n"));
    RETURN_IF_ERROR(Small());
    RETURN_IF_ERROR(Names());
    RETURN_IF_ERROR(Deep());
    RETURN_IF_ERROR(Owners());
    RETURN_IF_ERROR(Links());
    RETURN_IF_ERROR(Hardlinks());
    RETURN_IF_ERROR(Special());
    RETURN_IF_ERROR(Sparse());
    RETURN_IF_ERROR(Xattrs());
    RETURN_IF_ERROR(Acls());
    RETURN_IF_ERROR(Perms());  // last: read-only and 000 directories
    return Times();
  }

 private:
  struct Made {
    std::string rel;
    bool dir;
    mode_t mode;  // final mode of a directory (set in Times)
  };

  std::string P(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  void Note(const std::string& line) {
    if (opts_.notes != nullptr) opts_.notes->push_back(line);
  }

  absl::Status MkdirP(const std::string& path) {
    for (size_t pos = 1; pos <= path.size(); ++pos) {
      if (pos != path.size() && path[pos] != '/') continue;
      std::string prefix = path.substr(0, pos);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return Errno("mkdir", prefix);
      }
    }
    made_.push_back({"", true, 0755});
    return absl::OkStatus();
  }

  absl::Status Dir(const std::string& rel, mode_t mode = 0755) {
    if (mkdir(P(rel).c_str(), 0755) != 0) return Errno("mkdir", P(rel));
    made_.push_back({rel, true, mode});  // mode applied at the end
    return absl::OkStatus();
  }

  absl::Status File(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    int fd = open(P(rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create", P(rel));
    size_t off = 0;
    while (off < content.size()) {
      ssize_t n = write(fd, content.data() + off, content.size() - off);
      if (n < 0) {
        absl::Status s = Errno("write", P(rel));
        close(fd);
        return s;
      }
      off += static_cast<size_t>(n);
    }
    if (fchmod(fd, mode) != 0) {
      absl::Status s = Errno("chmod", P(rel));
      close(fd);
      return s;
    }
    if (close(fd) != 0) return Errno("close", P(rel));
    made_.push_back({rel, false, 0});
    return absl::OkStatus();
  }

  absl::Status Large() {
    RETURN_IF_ERROR(Dir("large"));
    const uint64_t size = opts_.large_file_bytes;
    const std::string names[] = {"large/random.bin", "large/duplicate.bin",
                                 "large/near_duplicate.bin"};
    int fds[3];
    for (int i = 0; i < 3; ++i) {
      fds[i] = open(P(names[i]).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fds[i] < 0) {
        absl::Status s = Errno("create", P(names[i]));
        for (int j = 0; j < i; ++j) close(fds[j]);
        return s;
      }
      made_.push_back({names[i], false, 0});
    }
    Prng prng(opts_.seed);
    std::string buf(1 << 20, '\0');
    const uint64_t mid = size / 2;
    absl::Status status;
    for (uint64_t off = 0; off < size && status.ok(); off += buf.size()) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
      prng.Fill(buf.data(), len);
      for (int i = 0; i < 3 && status.ok(); ++i) {
        std::string chunk = buf.substr(0, len);
        if (i == 2) {  // near duplicate: 16 bytes flipped around the middle
          for (uint64_t k = mid; k < mid + 16 && k < size; ++k) {
            if (k >= off && k < off + len) chunk[k - off] ^= 0x5a;
          }
        }
        if (pwrite(fds[i], chunk.data(), len, static_cast<off_t>(off)) !=
            static_cast<ssize_t>(len)) {
          status = Errno("write", P(names[i]));
        }
      }
    }
    for (int i = 0; i < 3; ++i) close(fds[i]);
    return status;
  }

  absl::Status Small() {
    RETURN_IF_ERROR(Dir("small"));
    for (int d = 0; d < 4; ++d) RETURN_IF_ERROR(Dir(absl::StrCat("small/d", d)));
    Prng prng(opts_.seed ^ 0x5111);
    for (int i = 0; i < opts_.small_files; ++i) {
      size_t len = static_cast<size_t>((i * 397) % 4097);
      std::string content(len, '\0');
      // Printable, compressible-ish text.
      for (size_t k = 0; k < len; ++k) {
        content[k] = static_cast<char>('a' + prng.Next() % 26);
        if (k % 64 == 63) content[k] = '\n';
      }
      RETURN_IF_ERROR(File(absl::StrFormat("small/d%d/f%04d.txt", i % 4, i), content));
    }
    return absl::OkStatus();
  }

  absl::Status Names() {
    RETURN_IF_ERROR(Dir("names"));
    const std::string names[] = {
        // ünïcødé-日本語-🙂.txt
        "names/\xc3\xbc"
        "n"
        "\xc3\xaf"
        "c"
        "\xc3\xb8"
        "d"
        "\xc3\xa9"
        "-\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-\xf0\x9f\x99\x82.txt",
        "names/new\nline",
        "names/back\\slash",
        "names/latin1-\xe9",
        "names/ leading space",
        "names/-leading-dash",
        "names/glob*?[chars]",
        "names/" + std::string(255, 'n'),
    };
    for (const std::string& n : names) {
      RETURN_IF_ERROR(File(n, "name: " + n + "\n"));
    }
    return Dir("names/" + std::string(200, 'D') + "-dir");
  }

  absl::Status Deep() {
    std::string rel = "deep";
    RETURN_IF_ERROR(Dir(rel));
    for (int i = 0; i < 60; ++i) {
      rel += absl::StrFormat("/l%02d", i);
      RETURN_IF_ERROR(Dir(rel));
    }
    return File(rel + "/bottom.txt", "60 levels down\n");
  }

  absl::Status Chown(const std::string& rel) {
    if (lchown(P(rel).c_str(), kAwkwardForeignUid, kAwkwardForeignGid) != 0) {
      return Errno("lchown", P(rel));
    }
    return absl::OkStatus();
  }

  absl::Status Owners() {
    RETURN_IF_ERROR(Dir("owners"));
    RETURN_IF_ERROR(File("owners/foreign_file", "not ours\n", 0640));
    RETURN_IF_ERROR(Chown("owners/foreign_file"));
    RETURN_IF_ERROR(Dir("owners/foreign_dir", 0750));
    RETURN_IF_ERROR(Chown("owners/foreign_dir"));
    RETURN_IF_ERROR(Symlink("foreign_file", "owners/foreign_link"));
    return Chown("owners/foreign_link");
  }

  absl::Status Symlink(const std::string& target, const std::string& rel) {
    if (symlink(target.c_str(), P(rel).c_str()) != 0) {
      return Errno("symlink", P(rel));
    }
    made_.push_back({rel, false, 0});
    return absl::OkStatus();
  }

  absl::Status Links() {
    RETURN_IF_ERROR(Dir("links"));
    RETURN_IF_ERROR(Symlink("../empty_file", "links/relative"));
    RETURN_IF_ERROR(Symlink("/etc/passwd", "links/absolute"));
    RETURN_IF_ERROR(Symlink("no/such/target", "links/dangling"));
    RETURN_IF_ERROR(Symlink("../empty_dir", "links/to_dir"));
    return Symlink("loop", "links/loop");
  }

  absl::Status Hardlinks() {
    RETURN_IF_ERROR(Dir("hardlinks"));
    RETURN_IF_ERROR(Dir("hardlinks/a"));
    RETURN_IF_ERROR(Dir("hardlinks/b"));
    RETURN_IF_ERROR(Dir("hardlinks/c"));
    RETURN_IF_ERROR(Dir("hardlinks/c/d"));
    RETURN_IF_ERROR(File("hardlinks/a/first", "one inode, three names\n"));
    for (const char* rel : {"hardlinks/b/second", "hardlinks/c/d/third"}) {
      if (link(P("hardlinks/a/first").c_str(), P(rel).c_str()) != 0) {
        return Errno("link", P(rel));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Special() {
    RETURN_IF_ERROR(Dir("special"));
    if (mkfifo(P("special/fifo").c_str(), 0640) != 0) {
      return Errno("mkfifo", P("special/fifo"));
    }
    made_.push_back({"special/fifo", false, 0});
    struct {
      const char* rel;
      mode_t type;
      dev_t dev;
    } devices[] = {{"special/null", S_IFCHR, makedev(1, 3)},
                   {"special/loop0", S_IFBLK, makedev(7, 0)}};
    for (const auto& d : devices) {
      if (mknod(P(d.rel).c_str(), d.type | 0660, d.dev) != 0) {
        if (errno == EPERM) {
          Note(absl::StrCat(d.rel,
                            ": mknod not permitted here (needs "
                            "CAP_MKNOD); device node skipped"));
          continue;
        }
        return Errno("mknod", P(d.rel));
      }
      made_.push_back({d.rel, false, 0});
    }
    return absl::OkStatus();
  }

  absl::Status Sparse() {
    RETURN_IF_ERROR(Dir("sparse"));
    const std::string path = P(kAwkwardSparseFile);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("create", path);
    made_.push_back({kAwkwardSparseFile, false, 0});
    bool ok = ftruncate(fd, static_cast<off_t>(kAwkwardSparseSize)) == 0 &&
              pwrite(fd, "first", 5, 1 << 20) == 5 &&
              pwrite(fd, "later", 5, (700 << 20) + 123) == 5;
    absl::Status s = ok ? absl::OkStatus() : Errno("write", path);
    close(fd);
    return s;
  }

  absl::Status SetXattr(const std::string& rel, const char* name, const std::string& value) {
    if (lsetxattr(P(rel).c_str(), name, value.data(), value.size(), 0) != 0) {
      if (errno == ENOTSUP) {
        Note(absl::StrCat(rel, ": the file system refuses xattr ", name));
        return absl::OkStatus();
      }
      return Errno(absl::StrCat("setxattr ", name), P(rel));
    }
    return absl::OkStatus();
  }

  absl::Status Xattrs() {
    RETURN_IF_ERROR(Dir("xattrs"));
    RETURN_IF_ERROR(File("xattrs/file", "has xattrs\n"));
    RETURN_IF_ERROR(SetXattr("xattrs/file", "user.comment", "a comment"));
    RETURN_IF_ERROR(SetXattr("xattrs/file", "user.binary", std::string("\0\x01\xff\n binary", 10)));
    RETURN_IF_ERROR(Dir("xattrs/dir"));
    return SetXattr("xattrs/dir", "user.dirnote", "on a directory");
  }

  absl::Status SetAcl(const std::string& rel, acl_type_t type, const char* text) {
    acl_t acl = acl_from_text(text);
    if (acl == nullptr) return Errno("acl_from_text for", P(rel));
    int rc = acl_set_file(P(rel).c_str(), type, acl);
    int err = errno;
    acl_free(acl);
    if (rc != 0) {
      errno = err;
      if (err == ENOTSUP) {
        Note(absl::StrCat(rel, ": the file system has no POSIX ACLs"));
        return absl::OkStatus();
      }
      return Errno("acl_set_file", P(rel));
    }
    return absl::OkStatus();
  }

  absl::Status Acls() {
    RETURN_IF_ERROR(Dir("acl"));
    RETURN_IF_ERROR(File("acl/file", "has an access ACL\n", 0640));
    RETURN_IF_ERROR(
        SetAcl("acl/file", ACL_TYPE_ACCESS, "u::rw-,u:12345:r--,g::r--,g:54321:rw-,m::rw-,o::---"));
    RETURN_IF_ERROR(Dir("acl/dir", 0750));
    RETURN_IF_ERROR(SetAcl("acl/dir", ACL_TYPE_ACCESS, "u::rwx,u:12345:r-x,g::r-x,m::r-x,o::---"));
    RETURN_IF_ERROR(
        SetAcl("acl/dir", ACL_TYPE_DEFAULT, "u::rwx,u:12345:rwx,g::r-x,g:54321:r-x,m::rwx,o::---"));
    // Created after the default ACL: inherits an access ACL from it.
    return File("acl/dir/inherited.txt", "inherited ACL\n", 0640);
  }

  absl::Status Perms() {
    RETURN_IF_ERROR(Dir("perms"));
    RETURN_IF_ERROR(File("perms/setuid", "#!/bin/true\n", 04755));
    RETURN_IF_ERROR(File("perms/setgid", "#!/bin/true\n", 02755));
    RETURN_IF_ERROR(Dir("perms/sticky_dir", 01777));
    RETURN_IF_ERROR(File("perms/sticky_dir/file", "in a sticky dir\n"));
    RETURN_IF_ERROR(Dir("perms/setgid_dir", 02775));
    RETURN_IF_ERROR(File("perms/mode000_file", "nobody may read this\n", 0));
    RETURN_IF_ERROR(Dir("perms/mode000_dir", 0));
    RETURN_IF_ERROR(File("perms/mode000_dir/inside.txt", "hidden\n"));
    RETURN_IF_ERROR(Dir("perms/readonly_dir", 0555));
    return File("perms/readonly_dir/inside.txt", "read only dir\n");
  }

  absl::Status Times() {
    // Directory modes (after their children exist), then times: files and
    // symlinks first, directories deepest first, the root last.
    std::vector<Made> dirs, others;
    for (const Made& m : made_) (m.dir ? dirs : others).push_back(m);
    std::stable_sort(dirs.begin(), dirs.end(), [](const Made& a, const Made& b) {
      return std::count(a.rel.begin(), a.rel.end(), '/') + !a.rel.empty() >
             std::count(b.rel.begin(), b.rel.end(), '/') + !b.rel.empty();
    });
    int64_t k = 0;
    auto next_time = [&k](struct timespec ts[2]) {
      ts[0].tv_sec = 1234567890 + k;
      ts[0].tv_nsec = 987654321 - k;
      ts[1].tv_sec = 1234567890 + k * 3600;
      ts[1].tv_nsec = 123456789 + k;
      ++k;
    };
    struct timespec ts[2];
    for (const Made& m : others) {
      next_time(ts);
      if (utimensat(AT_FDCWD, P(m.rel).c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno("utimensat", P(m.rel));
      }
    }
    for (const Made& m : dirs) {
      if (m.mode != 0755 && chmod(P(m.rel).c_str(), m.mode) != 0) {
        return Errno("chmod", P(m.rel));
      }
      next_time(ts);
      if (utimensat(AT_FDCWD, P(m.rel).c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno("utimensat", P(m.rel));
      }
    }
    return absl::OkStatus();
  }

  std::string root_;
  const AwkwardTreeOptions& opts_;
  std::vector<Made> made_;
};

}  // namespace

absl::Status MakeAwkwardTree(const std::string& root, const AwkwardTreeOptions& opts) {
  return Builder(root, opts).Build();
}

}  // namespace arca::testing
