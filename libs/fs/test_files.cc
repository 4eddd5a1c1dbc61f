#include "libs/fs/test_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace arca::fs::test {
namespace {

void Fail(absl::string_view call, const std::string& path) {
  ADD_FAILURE() << call << " " << path << ": " << std::strerror(errno);
}

}  // namespace

std::string MakeScratchDir(absl::string_view name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, "-", ::getpid(), "-", counter++);
  if (::mkdir(dir.c_str(), 0755) != 0) Fail("mkdir", dir);
  return dir;
}

void WriteFile(const std::string& path, absl::string_view content, uint32_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Fail("open", path);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      Fail("write", path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) Fail("fchmod", path);
  ::close(fd);
}

std::string ReadFile(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail("open", path);
    return out;
  }
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  if (n < 0) Fail("read", path);
  ::close(fd);
  return out;
}

void MakeDir(const std::string& path, uint32_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return Fail("mkdir", path);
  if (::chmod(path.c_str(), mode) != 0) Fail("chmod", path);
}

void MakeSymlink(const std::string& target, const std::string& path) {
  if (::symlink(target.c_str(), path.c_str()) != 0) Fail("symlink", path);
}

void SetTimesNs(const std::string& path, int64_t atime_ns, int64_t mtime_ns) {
  struct timespec ts[2];
  ts[0].tv_sec = atime_ns / 1000000000;
  ts[0].tv_nsec = atime_ns % 1000000000;
  ts[1].tv_sec = mtime_ns / 1000000000;
  ts[1].tv_nsec = mtime_ns % 1000000000;
  if (::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
    Fail("utimensat", path);
  }
}

void SetXattr(const std::string& path, const std::string& name, absl::string_view value) {
  if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
    Fail(absl::StrCat("lsetxattr ", name), path);
  }
}

}  // namespace arca::fs::test
