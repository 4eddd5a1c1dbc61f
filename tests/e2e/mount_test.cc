// arca mount: the real binary serves a real FUSE mount of the awkward tree's
// snapshot (and of the whole repository), compared through the mount with
// the source attribute by attribute (tree_compare.h: type, mode with
// setuid/setgid/sticky, owner, ns mtimes of everything including symlinks,
// sizes, content, symlink targets, device numbers, xattrs, ACL bytes,
// hardlink structure, sparseness), plus what CompareTrees leaves out: ctime
// and atime as stored, link counts, getfacl's view. Then the ways it ends:
// SIGINT, SIGTERM and fusermount3 -u all exit 0 and release the mount point;
// damaged data is EIO for the reader and a message naming the file.
//
// Without /dev/fuse the mounting tests are skipped (with a message saying
// so); the usage errors are checked everywhere. Every mount is unmounted in
// teardown (umount -l), also when a test fails.
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/base/subprocess.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

bool HaveFuse() { return access("/dev/fuse", R_OK | W_OK) == 0; }

// Whether `dir` is a mount point now (/proc/self/mountinfo, field 5).
bool IsMounted(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  const std::string canonical = std::filesystem::weakly_canonical(dir).string();
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t pos = 0;
    for (int i = 0; i < 5 && pos != std::string::npos; ++i) {
      size_t sp = line.find(' ', pos);
      f.push_back(line.substr(pos, sp == std::string::npos ? sp : sp - pos));
      pos = sp == std::string::npos ? sp : sp + 1;
    }
    if (f.size() == 5 && f[4] == canonical) return true;
  }
  return false;
}

// One `arca mount ...` process. Start returns once the mount is in place
// (arca's "mounted" line on stderr) or the process has ended. The
// destructor unmounts (umount -l) and kills whatever is left.
class MountProcess {
 public:
  explicit MountProcess(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}
  ~MountProcess() {
    if (IsMounted(mountpoint_)) RunProgram({"umount", "-l", mountpoint_});
    // ~Subprocess kills and reaps a child still running.
  }

  // True when the "mounted" line came; else the process ended (see Stop).
  bool Start(const std::vector<std::string>& args) {
    SubprocessOptions o;
    o.argv = {ArcaBinary()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.stdout_output = SubprocessOutput::Null();
    o.stderr_output = SubprocessOutput::Pipe();
    o.kill_with_parent = true;
    absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(o);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return false;
    process_ = std::move(*p);
    std::string line;
    char c;
    while (read(process_->stderr_fd(), &c, 1) == 1) {
      err_ += c;
      if (c == '\n') {
        if (line.rfind("arca: mounted ", 0) == 0) return true;
        line.clear();
      } else {
        line += c;
      }
    }
    return false;
  }

  // Sends `signo` (0: none) and waits for the exit code; the rest of
  // stderr is in err().
  int Stop(int signo) {
    if (!process_) return -1;
    if (signo != 0) EXPECT_TRUE(process_->Signal(signo).ok());
    char buf[4096];
    ssize_t n;
    while ((n = read(process_->stderr_fd(), buf, sizeof(buf))) > 0) err_.append(buf, n);
    absl::StatusOr<SubprocessResult> r = process_->Wait();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->exit_code : -1;
  }

  const std::string& err() const { return err_; }

 private:
  std::string mountpoint_;
  std::unique_ptr<Subprocess> process_;
  std::string err_;
};

class MountTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveFuse()) return;
    src_ = new std::string(NewTempDir("awkward"));
    absl::Status made = testing::MakeAwkwardTree(*src_);
    ASSERT_TRUE(made.ok()) << made;
    repo_ = new std::string(NewTempDir("repo") + "/repo");
    RunResult r = RunArca({"init", "--repo", *repo_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    r = RunArca({"backup", *src_, "--repo", *repo_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    id_ = new std::string(JsonStringValue(r.out, "snapshot"));
  }

  void SetUp() override {
    if (!HaveFuse()) {
      GTEST_SKIP() << "no usable /dev/fuse on this machine: arca mount is not tested here "
                      "(load the fuse module, or run the container with --device /dev/fuse)";
    }
    ASSERT_NE(src_, nullptr);
  }

  static void ExpectSameAsSource(const std::string& mnt) {
    testing::CompareOptions opts;
    opts.symlink_mtime = true;
    std::vector<std::string> diffs = testing::CompareTrees(*src_, mnt, opts);
    EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
    // What CompareTrees does not compare. ctime: stored at backup time and
    // unchanged in the source since. Link counts (directories: stored;
    // files: their names in the snapshot, all of them in the tree here).
    int checked = 0;
    for (const std::string& rel : SourcePaths()) {
      struct stat s, m;
      ASSERT_EQ(lstat((*src_ + "/" + rel).c_str(), &s), 0) << rel;
      ASSERT_EQ(lstat((mnt + "/" + rel).c_str(), &m), 0) << rel << ": " << strerror(errno);
      EXPECT_EQ(m.st_ctim.tv_sec, s.st_ctim.tv_sec) << rel;
      EXPECT_EQ(m.st_ctim.tv_nsec, s.st_ctim.tv_nsec) << rel;
      EXPECT_EQ(m.st_nlink, s.st_nlink) << rel;
      ++checked;
    }
    EXPECT_GT(checked, 300);
    struct stat a, b, c;
    ASSERT_EQ(lstat((mnt + "/hardlinks/a/first").c_str(), &a), 0);
    ASSERT_EQ(lstat((mnt + "/hardlinks/c/d/third").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_nlink, 3u);
    // atime as stored: nothing has opened the FIFO since it was made.
    ASSERT_EQ(lstat((*src_ + "/special/fifo").c_str(), &a), 0);
    ASSERT_EQ(lstat((mnt + "/special/fifo").c_str(), &b), 0);
    EXPECT_EQ(b.st_atim.tv_sec, a.st_atim.tv_sec);
    EXPECT_EQ(b.st_atim.tv_nsec, a.st_atim.tv_nsec);
    EXPECT_TRUE(S_ISFIFO(b.st_mode));
    // The sparse file is sparse through the mount too.
    ASSERT_EQ(lstat((mnt + "/" + testing::kAwkwardSparseFile).c_str(), &c), 0);
    EXPECT_EQ(static_cast<uint64_t>(c.st_size), testing::kAwkwardSparseSize);
    EXPECT_LT(c.st_blocks * 512, 1 << 20);
    // getfacl reads the ACLs through the kernel as it does from the source.
    for (const char* rel : {"acl/file", "acl/dir", "acl/dir/inherited.txt"}) {
      RunResult want = RunProgram({"getfacl", "-n", "--omit-header", *src_ + "/" + rel});
      RunResult got = RunProgram({"getfacl", "-n", "--omit-header", mnt + "/" + rel});
      ASSERT_EQ(got.exit_code, 0) << got.Describe();
      EXPECT_EQ(got.out, want.out) << rel;
      EXPECT_NE(got.out.find("user:"), std::string::npos) << rel << ": " << got.out;
    }
  }

  // Every path under the source, relative, without following symlinks.
  static std::vector<std::string> SourcePaths() {
    static std::vector<std::string>* paths;
    paths = new std::vector<std::string>();
    nftw(
        src_->c_str(),
        [](const char* path, const struct stat*, int, FTW*) {
          std::string rel = path + src_->size();
          if (!rel.empty()) paths->push_back(rel.substr(1));
          return 0;
        },
        64, FTW_PHYS);
    std::vector<std::string> out = std::move(*paths);
    delete paths;
    return out;
  }

  static std::string* src_;
  static std::string* repo_;
  static std::string* id_;
};
std::string* MountTest::src_ = nullptr;
std::string* MountTest::repo_ = nullptr;
std::string* MountTest::id_ = nullptr;

TEST_F(MountTest, SnapshotMountMatchesTheSource) {
  std::string mnt = NewTempDir("mnt");
  MountProcess m(mnt);
  ASSERT_TRUE(m.Start({"mount", *id_, mnt, "--repo", *repo_})) << m.err();
  ASSERT_TRUE(IsMounted(mnt));
  ExpectSameAsSource(mnt);
  // Read-only.
  errno = 0;
  EXPECT_LT(open((mnt + "/empty_file").c_str(), O_WRONLY), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(mkdir((mnt + "/new").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(m.Stop(SIGTERM), 0) << m.err();
  EXPECT_FALSE(IsMounted(mnt)) << "the mount point is released";
  EXPECT_NE(m.err().find("unmounted"), std::string::npos) << m.err();
}

TEST_F(MountTest, RepositoryMountByGroupAndTime) {
  std::string mnt = NewTempDir("mnt_repo");
  MountProcess m(mnt);
  // REPO MOUNTPOINT, the repository named as --repo too.
  ASSERT_TRUE(m.Start({"mount", *repo_, mnt, "--repo", *repo_})) << m.err();
  const std::string group = id_->substr(0, id_->find('/'));
  const std::string time = id_->substr(id_->find('/') + 1);
  std::vector<std::string> groups, times;
  for (const auto& e : std::filesystem::directory_iterator(mnt)) {
    groups.push_back(e.path().filename());
  }
  EXPECT_EQ(groups, std::vector<std::string>{group});
  for (const auto& e : std::filesystem::directory_iterator(mnt + "/" + group)) {
    times.push_back(e.path().filename());
  }
  EXPECT_EQ(times, std::vector<std::string>{time});
  ExpectSameAsSource(mnt + "/" + *id_);
  EXPECT_EQ(m.Stop(SIGINT), 0) << m.err();
  EXPECT_FALSE(IsMounted(mnt));
}

TEST_F(MountTest, UnmountFromOutsideEndsTheProcess) {
  std::string mnt = NewTempDir("mnt_umount");
  MountProcess m(mnt);
  ASSERT_TRUE(m.Start({"mount", mnt, "--repo", *repo_})) << m.err();
  std::string content;
  {
    std::ifstream in(mnt + "/" + *id_ + "/dups/a.txt", std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ifstream want_in(*src_ + "/dups/a.txt", std::ios::binary);
  std::string want(std::istreambuf_iterator<char>(want_in), {});
  EXPECT_EQ(content, want);
  RunResult u = RunProgram({"fusermount3", "-u", mnt});
  ASSERT_EQ(u.exit_code, 0) << u.Describe();
  EXPECT_EQ(m.Stop(0), 0) << m.err();
  EXPECT_FALSE(IsMounted(mnt));
}

TEST_F(MountTest, DamagedDataIsAnIoErrorNamingTheFile) {
  std::string src = NewTempDir("damaged_src");
  WriteFile(src + "/file.txt", std::string(100000, 'x'));
  std::string repo = NewTempDir("damaged_repo") + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  RunResult b = RunArca({"backup", src, "--repo", repo});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  std::string mnt = NewTempDir("mnt_damaged");
  MountProcess m(mnt);
  ASSERT_TRUE(m.Start({"mount", "latest", mnt, "--repo", repo})) << m.err();
  // The tree is built at mount time; now every chunk goes.
  for (const auto& f : std::filesystem::recursive_directory_iterator(repo + "/chunks")) {
    if (f.is_regular_file()) std::filesystem::remove(f.path());
  }
  struct stat st;
  ASSERT_EQ(lstat((mnt + "/file.txt").c_str(), &st), 0) << "metadata is still there";
  EXPECT_EQ(st.st_size, 100000);
  int fd = open((mnt + "/file.txt").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  char buf[4096];
  errno = 0;
  EXPECT_LT(read(fd, buf, sizeof(buf)), 0);
  EXPECT_EQ(errno, EIO);
  close(fd);
  EXPECT_EQ(m.Stop(SIGTERM), 0) << m.err();
  EXPECT_NE(m.err().find("file 'file.txt'"), std::string::npos) << m.err();
  EXPECT_NE(m.err().find("run arca verify"), std::string::npos) << m.err();
}

TEST(MountUsageTest, ErrorsExitWithTheirCodes) {
  std::string dir = NewTempDir("usage");
  std::string repo = dir + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  std::string file = dir + "/file";
  WriteFile(file, "x");
  RunResult r = RunArca({"mount", "--repo", repo});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("usage: arca mount"), std::string::npos) << r.err;
  r = RunArca({"mount", file, "--repo", repo});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("is not a directory"), std::string::npos) << r.err;
  r = RunArca({"mount", "nosuch/20200101T000000.000000000Z", dir, "--repo", repo});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  r = RunArca({"mount", dir, "--repo", dir + "/no_repo"});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  r = RunArca({"mount", "latest", dir});  // a snapshot, but no --repo
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("no repository"), std::string::npos) << r.err;
  r = RunArca({"mount", dir, "--repo", repo, "--bogus"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
}

}  // namespace
}  // namespace arca::e2e
