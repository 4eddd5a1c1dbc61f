#include "libs/fs/testing/tree_compare.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"

namespace arca::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::string Scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  std::string cmd = absl::StrCat("rm -rf '", dir, "'");
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

void Shell(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

void WriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
}

// Gives `dst` the atime/mtime of `src` (both lstat'ed).
void CopyTimes(const std::string& src, const std::string& dst) {
  struct stat st;
  ASSERT_EQ(lstat(src.c_str(), &st), 0) << src;
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, dst.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << dst;
}

// A small tree with one of most kinds, and its `cp -a` copy.
class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    e_ = Scratch(name + "_expected");
    a_ = Scratch(name + "_actual");
    Shell("mkdir -p " + e_ + "/d");
    WriteFile(e_ + "/f", "0123456789abcdef");
    WriteFile(e_ + "/d/g", "in d");
    ASSERT_EQ(symlink("f", (e_ + "/l").c_str()), 0);
    ASSERT_EQ(mkfifo((e_ + "/fifo").c_str(), 0600), 0);
    ASSERT_EQ(mknod((e_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(chmod((e_ + "/null").c_str(), 0666), 0);
    WriteFile(e_ + "/h1", "linked");
    ASSERT_EQ(link((e_ + "/h1").c_str(), (e_ + "/d/h2").c_str()), 0);
    int fd = open((e_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 64 << 20), 0);
    ASSERT_EQ(pwrite(fd, "x", 1, 32 << 20), 1);
    close(fd);
    ASSERT_EQ(setxattr((e_ + "/f").c_str(), "user.k", "v", 1, 0), 0);
    Shell("setfacl -m u:12345:r " + e_ + "/d/g");
    Shell("touch -d '2009-02-13 23:31:30.123456789' " + e_ + "/f " + e_ + "/d " + e_);
    Shell("cp -a --sparse=always " + e_ + " " + a_);
    ASSERT_THAT(CompareTrees(e_, a_), IsEmpty());
  }

  std::string E(const std::string& rel) const { return e_ + "/" + rel; }
  std::string A(const std::string& rel) const { return a_ + "/" + rel; }

  std::string e_, a_;
};

TEST_F(CompareTest, IdenticalCopyHasNoDifference) {
  EXPECT_THAT(CompareTrees(e_, a_), IsEmpty());
  EXPECT_THAT(CompareTrees(e_, e_), IsEmpty());
}

TEST_F(CompareTest, Missing) {
  ASSERT_EQ(unlink(A("d/g").c_str()), 0);
  CopyTimes(E("d"), A("d"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("missing: 'd/g' (regular file) is in expected but "
                                                "not in actual"));
}

TEST_F(CompareTest, MissingDirectoryIsOneLine) {
  Shell("rm -rf " + A("d"));
  CopyTimes(E(""), A(""));
  // Only the directory is reported, not each entry below it; links are
  // compared among paths present in both trees, so h1 adds no line.
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("missing: 'd' (directory) is in expected but not "
                                                "in actual"));
}

TEST_F(CompareTest, Extra) {
  WriteFile(A("d/new"), "");
  CopyTimes(E("d"), A("d"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("extra: 'd/new' (regular file) is in actual but "
                                                "not in expected"));
}

TEST_F(CompareTest, Type) {
  ASSERT_EQ(unlink(A("fifo").c_str()), 0);
  WriteFile(A("fifo"), "");
  CopyTimes(E(""), A(""));
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre("type: 'fifo': expected fifo, actual regular file"));
}

TEST_F(CompareTest, Mode) {
  ASSERT_EQ(chmod(A("f").c_str(), 04644), 0);
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("mode: 'f': expected 0644, actual 4644"));
}

TEST_F(CompareTest, Uid) {
  ASSERT_EQ(lchown(A("d/g").c_str(), 12345, -1), 0);
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("uid: 'd/g': expected 0, actual 12345"));
}

TEST_F(CompareTest, Gid) {
  ASSERT_EQ(lchown(A("l").c_str(), -1, 54321), 0);
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("gid: 'l': expected 0, actual 54321"));
}

TEST_F(CompareTest, MtimeNanoseconds) {
  Shell("touch -d '2009-02-13 23:31:30.123456788' " + A("f"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre(StartsWith("mtime: 'f': expected 1234567890."
                                                           "123456789, actual 1234567890."
                                                           "123456788")));
}

TEST_F(CompareTest, DirectoryMtime) {
  Shell("touch -d '2001-01-01' " + A("d"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre(StartsWith("mtime: 'd':")));
}

TEST_F(CompareTest, SymlinkMtimeOnlyWhenAsked) {
  Shell("touch -h -d '2001-01-01' " + A("l"));
  EXPECT_THAT(CompareTrees(e_, a_), IsEmpty());
  CompareOptions opts;
  opts.symlink_mtime = true;
  EXPECT_THAT(CompareTrees(e_, a_, opts), ElementsAre(StartsWith("mtime: 'l':")));
}

TEST_F(CompareTest, Size) {
  WriteFile(A("f"), "0123456789abcdefEXTRA");
  CopyTimes(E("f"), A("f"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("size: 'f': expected 16 bytes, actual 21"));
}

TEST_F(CompareTest, ContentSameSize) {
  int fd = open(A("f").c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "X", 1, 10), 1);
  close(fd);
  CopyTimes(E("f"), A("f"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("content: 'f': first difference at byte 10"));
}

TEST_F(CompareTest, ContentInsideAHoleOfExpected) {
  int fd = open(A("sparse").c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "y", 1, 1000), 1);
  close(fd);
  CopyTimes(E("sparse"), A("sparse"));
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre("content: 'sparse': first difference at byte 1000"));
}

TEST_F(CompareTest, SymlinkTarget) {
  ASSERT_EQ(unlink(A("l").c_str()), 0);
  ASSERT_EQ(symlink("g", A("l").c_str()), 0);
  ASSERT_EQ(lchown(A("l").c_str(), 0, 0), 0);
  CopyTimes(E(""), A(""));
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre("symlink: 'l': expected target \"f\", actual \"g\""));
}

TEST_F(CompareTest, Rdev) {
  ASSERT_EQ(unlink(A("null").c_str()), 0);
  ASSERT_EQ(mknod(A("null").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0);
  ASSERT_EQ(chmod(A("null").c_str(), 0666), 0);  // undo the umask
  CopyTimes(E("null"), A("null"));
  CopyTimes(E(""), A(""));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("rdev: 'null': expected 1,3, actual 1,5"));
}

TEST_F(CompareTest, XattrValueMissingAndExtra) {
  ASSERT_EQ(setxattr(A("f").c_str(), "user.k", "w", 1, 0), 0);
  ASSERT_EQ(setxattr(A("d").c_str(), "user.only", "1", 1, 0), 0);
  ASSERT_EQ(removexattr(A("f").c_str(), "user.k"), 0);
  ASSERT_EQ(setxattr(A("f").c_str(), "user.k2", "v", 1, 0), 0);
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre("xattr: 'd': user.only is only in actual (\"1\")",
                          "xattr: 'f': user.k is missing in actual (expected \"v\")",
                          "xattr: 'f': user.k2 is only in actual (\"v\")"));
  ASSERT_EQ(removexattr(A("f").c_str(), "user.k2"), 0);
  ASSERT_EQ(removexattr(A("d").c_str(), "user.only"), 0);
  ASSERT_EQ(setxattr(A("f").c_str(), "user.k", "w", 1, 0), 0);
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("xattr: 'f': user.k expected \"v\", actual \"w\""));
}

TEST_F(CompareTest, Acl) {
  Shell("setfacl -m u:12345:rw " + A("d/g"));
  std::vector<std::string> diffs = CompareTrees(e_, a_);
  // rw for the user widens the mask, which shows in the group mode bits too.
  EXPECT_THAT(diffs, ::testing::Contains(StartsWith("acl: 'd/g': system.posix_acl_access "
                                                    "expected")));
  Shell("setfacl -b " + A("d/g") + " && chmod 0644 " + A("d/g"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre(StartsWith("acl: 'd/g': system.posix_acl_access is "
                                                           "missing in actual")));
}

TEST_F(CompareTest, DefaultAclOnDirectory) {
  Shell("setfacl -d -m u:12345:rx " + A("d"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre(StartsWith("acl: 'd': system.posix_acl_default is "
                                                           "only in actual")));
}

TEST_F(CompareTest, HardlinkBroken) {
  // Same bytes and metadata, but a separate inode.
  ASSERT_EQ(unlink(A("d/h2").c_str()), 0);
  Shell("cp -a " + A("h1") + " " + A("d/h2"));
  CopyTimes(E("d"), A("d"));
  EXPECT_THAT(CompareTrees(e_, a_), ElementsAre("hardlink: 'd/h2': in expected it shares its inode "
                                                "with ['h1'], in actual with []",
                                                "hardlink: 'h1': in expected it shares its inode "
                                                "with ['d/h2'], in actual with []"));
}

TEST_F(CompareTest, HardlinkAdded) {
  ASSERT_EQ(unlink(A("d/g").c_str()), 0);
  ASSERT_EQ(link(A("f").c_str(), A("d/g").c_str()), 0);
  CopyTimes(E("d"), A("d"));
  std::vector<std::string> diffs = CompareTrees(e_, a_);
  EXPECT_THAT(diffs, ::testing::Contains("hardlink: 'f': in expected it shares its inode with "
                                         "[], in actual with ['d/g']"));
}

TEST_F(CompareTest, SparseFileFilledIn) {
  ASSERT_EQ(unlink(A("sparse").c_str()), 0);
  Shell("cp -a --sparse=never " + E("sparse") + " " + A("sparse"));
  CopyTimes(E(""), A(""));
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre(StartsWith("sparse: 'sparse': expected is sparse")));
}

TEST_F(CompareTest, IgnorePathsSkipsTheSubtree) {
  ASSERT_EQ(unlink(A("d/g").c_str()), 0);
  ASSERT_EQ(chmod(A("f").c_str(), 0600), 0);
  CompareOptions opts;
  opts.ignore_paths = {"d", "f"};
  EXPECT_THAT(CompareTrees(e_, a_, opts), IsEmpty());
  opts.ignore_paths = {"d/g"};
  EXPECT_THAT(CompareTrees(e_, a_, opts),
              ElementsAre(StartsWith("mtime: 'd':"), StartsWith("mode: 'f':")));
}

TEST_F(CompareTest, RootMetadata) {
  ASSERT_EQ(chmod(a_.c_str(), 0700), 0);
  EXPECT_THAT(CompareTrees(e_, a_),
              ElementsAre(StartsWith("mode: '.': expected 0755, actual 0700")));
  CompareOptions opts;
  opts.compare_root_metadata = false;
  EXPECT_THAT(CompareTrees(e_, a_, opts), IsEmpty());
}

TEST_F(CompareTest, MissingRootIsAnError) {
  EXPECT_THAT(CompareTrees(e_, a_ + "/nope"),
              ElementsAre(HasSubstr("error: cannot open actual root")));
}

// 20 levels of 250-byte names: 5000+ bytes, beyond PATH_MAX (4096). Built
// with *at() calls; returns the fd of the deepest directory.
int MakeLongTree(const std::string& root, const std::string& name) {
  EXPECT_EQ(mkdir(root.c_str(), 0755), 0);
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(mkdirat(fd, name.c_str(), 0755), 0);
    int sub = openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
    EXPECT_GE(sub, 0);
    close(fd);
    fd = sub;
  }
  int f = openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);
  EXPECT_EQ(write(f, "deep", 4), 4);
  close(f);
  return fd;
}

// Sets every directory of a long tree (and the leaf) to one mtime.
void FixLongTreeTimes(const std::string& root, const std::string& name) {
  struct timespec ts[2] = {{1, 0}, {1234567890, 5}};
  std::vector<int> fds = {open(root.c_str(), O_RDONLY | O_DIRECTORY)};
  for (int i = 0; i < 20; ++i) {
    fds.push_back(openat(fds.back(), name.c_str(), O_RDONLY | O_DIRECTORY));
  }
  EXPECT_EQ(utimensat(fds.back(), "leaf", ts, AT_SYMLINK_NOFOLLOW), 0);
  for (auto it = fds.rbegin(); it != fds.rend(); ++it) {
    EXPECT_EQ(futimens(*it, ts), 0);
    close(*it);
  }
}

TEST(CompareLongPathsTest, PathsLongerThanPathMax) {
  const std::string e = Scratch("long_expected");
  const std::string a = Scratch("long_actual");
  const std::string name(250, 'L');
  close(MakeLongTree(e, name));
  int deepest = MakeLongTree(a, name);
  FixLongTreeTimes(e, name);
  FixLongTreeTimes(a, name);
  EXPECT_THAT(CompareTrees(e, a), IsEmpty());
  // Change the leaf through *at() calls, then find the difference.
  ASSERT_EQ(fchmodat(deepest, "leaf", 0600, 0), 0);
  close(deepest);
  std::vector<std::string> diffs = CompareTrees(e, a);
  ASSERT_EQ(diffs.size(), 1u) << absl::StrJoin(diffs, "\n");
  EXPECT_THAT(diffs[0], StartsWith("mode: '" + name + "/"));
  EXPECT_THAT(diffs[0], HasSubstr("/leaf': expected 0644, actual 0600"));
}

// The generated tree: every case is there with the promised attributes.
class AwkwardTreeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(Scratch("awkward"));
    AwkwardTreeOptions opts;
    opts.large_file_bytes = 3 << 20;
    opts.small_files = 40;
    opts.notes = &notes_;
    ASSERT_TRUE(MakeAwkwardTree(*root_, opts).ok());
  }
  static void TearDownTestSuite() { delete root_; }

  static std::string P(const std::string& rel) { return *root_ + "/" + rel; }
  static struct stat L(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(lstat(P(rel).c_str(), &st), 0) << rel;
    return st;
  } static std::string Xattr(const std::string& rel, const char* name) {
    char buf[256];
    ssize_t n = lgetxattr(P(rel).c_str(), name, buf, sizeof(buf));
    return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
  }

  static std::string* root_;
  static std::vector<std::string> notes_;
};
std::string* AwkwardTreeTest::root_ = nullptr;
std::vector<std::string> AwkwardTreeTest::notes_;

TEST_F(AwkwardTreeTest, EveryCaseIsPresent) {
  EXPECT_THAT(notes_, IsEmpty());  // root may mknod here
  EXPECT_EQ(L("empty_file").st_size, 0);
  EXPECT_TRUE(S_ISDIR(L("empty_dir").st_mode));
  EXPECT_EQ(L("large/random.bin").st_size, 3 << 20);
  EXPECT_EQ(L("large/near_duplicate.bin").st_size, 3 << 20);
  EXPECT_TRUE(S_ISREG(L("names/new\nline").st_mode));
  EXPECT_TRUE(S_ISREG(L("names/back\\slash").st_mode));
  EXPECT_TRUE(S_ISREG(L("names/" + std::string(255, 'n')).st_mode));
  std::string deep = "deep";
  for (int i = 0; i < 60; ++i) deep += "/l" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  EXPECT_TRUE(S_ISREG(L(deep + "/bottom.txt").st_mode));
  EXPECT_EQ(L("perms/setuid").st_mode & 07777, 04755u);
  EXPECT_EQ(L("perms/setgid").st_mode & 07777, 02755u);
  EXPECT_EQ(L("perms/sticky_dir").st_mode & 07777, 01777u);
  EXPECT_EQ(L("perms/mode000_file").st_mode & 07777, 0u);
  EXPECT_EQ(L("perms/mode000_dir").st_mode & 07777, 0u);
  EXPECT_EQ(L("owners/foreign_file").st_uid, 12345u);
  EXPECT_EQ(L("owners/foreign_dir").st_gid, 54321u);
  EXPECT_EQ(L("owners/foreign_link").st_uid, 12345u);
  EXPECT_TRUE(S_ISLNK(L("links/dangling").st_mode));
  EXPECT_TRUE(S_ISLNK(L("links/absolute").st_mode));
  EXPECT_EQ(L("hardlinks/a/first").st_nlink, 3u);
  EXPECT_EQ(L("hardlinks/a/first").st_ino, L("hardlinks/c/d/third").st_ino);
  EXPECT_TRUE(S_ISFIFO(L("special/fifo").st_mode));
  EXPECT_TRUE(S_ISCHR(L("special/null").st_mode));
  EXPECT_EQ(L("special/null").st_rdev, makedev(1, 3));
  struct stat sp = L(kAwkwardSparseFile);
  EXPECT_EQ(static_cast<uint64_t>(sp.st_size), kAwkwardSparseSize);
  EXPECT_LT(sp.st_blocks * 512, 1 << 20);
  EXPECT_EQ(Xattr("xattrs/file", "user.comment"), "a comment");
  EXPECT_EQ(Xattr("xattrs/dir", "user.dirnote"), "on a directory");
  EXPECT_NE(Xattr("acl/file", "system.posix_acl_access"), "<none>");
  EXPECT_NE(Xattr("acl/dir", "system.posix_acl_default"), "<none>");
  EXPECT_NE(Xattr("acl/dir/inherited.txt", "system.posix_acl_access"), "<none>");
  EXPECT_EQ(L("empty_file").st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(L("empty_file").st_mtim.tv_nsec, 123456789);
  struct stat root;
  ASSERT_EQ(lstat(root_->c_str(), &root), 0);
  EXPECT_NE(root.st_mtim.tv_nsec, 0);  // set last, not disturbed
}

TEST_F(AwkwardTreeTest, DuplicatesAndNearDuplicate) {
  EXPECT_THAT(CompareTrees(P("large"), P("large"), {.compare_root_metadata = false}), IsEmpty());
  auto read = [](const std::string& path) {
    std::string out(3 << 20, '\0');
    int fd = open(path.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    close(fd);
    return out;
  };
  const std::string random = read(P("large/random.bin"));
  EXPECT_EQ(read(P("large/duplicate.bin")), random);
  // The near-duplicate differs in exactly 16 bytes, in the middle.
  const std::string near = read(P("large/near_duplicate.bin"));
  std::vector<size_t> differ;
  for (size_t i = 0; i < near.size(); ++i) {
    if (near[i] != random[i]) differ.push_back(i);
  }
  ASSERT_EQ(differ.size(), 16u);
  EXPECT_EQ(differ.front(), size_t{(3 << 20) / 2});
  EXPECT_EQ(differ.back(), size_t{(3 << 20) / 2 + 15});
}

TEST_F(AwkwardTreeTest, EqualsItselfAndItsCpCopy) {
  EXPECT_THAT(CompareTrees(*root_, *root_), IsEmpty());
  const std::string copy = Scratch("awkward_copy");
  Shell("cp -a --sparse=always " + *root_ + " " + copy);
  EXPECT_THAT(CompareTrees(*root_, copy), IsEmpty());
  // And a change deep down is found.
  std::string deep = "deep";
  for (int i = 0; i < 60; ++i) deep += "/l" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  ASSERT_EQ(chmod((copy + "/" + deep + "/bottom.txt").c_str(), 0600), 0);
  EXPECT_THAT(CompareTrees(*root_, copy),
              ElementsAre("mode: '" + deep + "/bottom.txt': expected 0644, actual 0600"));
}

TEST(AwkwardTreeDeterminismTest, SameSeedSameTree) {
  const std::string a = Scratch("det_a"), b = Scratch("det_b");
  AwkwardTreeOptions opts;
  opts.large_file_bytes = 1 << 20;
  opts.small_files = 10;
  ASSERT_TRUE(MakeAwkwardTree(a, opts).ok());
  ASSERT_TRUE(MakeAwkwardTree(b, opts).ok());
  // Same content and attributes; inodes differ, so hardlink groups are
  // compared by structure, which matches.
  EXPECT_THAT(CompareTrees(a, b), IsEmpty());
  const std::string c = Scratch("det_c");
  opts.seed = 2;
  ASSERT_TRUE(MakeAwkwardTree(c, opts).ok());
  EXPECT_THAT(CompareTrees(a, c), ::testing::Contains(StartsWith("content: 'large/random.bin'")));
}

}  // namespace
}  // namespace arca::testing
