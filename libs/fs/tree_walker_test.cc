#include "libs/fs/tree_walker.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/exclude.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/fs/file_system.h"
#include "libs/fs/posix_acl.h"
#include "libs/fs/test_files.h"

namespace arca::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct WalkResult {
  std::vector<v1::Entry> entries;
  std::vector<v1::Warning> warnings;

  std::vector<std::string> Paths() const {
    std::vector<std::string> paths;
    for (const v1::Entry& e : entries) paths.push_back(e.path());
    return paths;
  }
  const v1::Entry* Find(const std::string& path) const {
    for (const v1::Entry& e : entries) {
      if (e.path() == path) return &e;
    }
    return nullptr;
  }
};

WalkResult WalkAll(FileSystem* fs, const std::string& root, WalkOptions options = {}) {
  WalkResult result;
  absl::StatusOr<std::unique_ptr<TreeWalker>> walker = TreeWalker::Open(fs, root, options);
  EXPECT_TRUE(walker.ok()) << walker.status();
  if (!walker.ok()) return result;
  v1::Entry entry;
  for (;;) {
    absl::StatusOr<bool> more = (*walker)->Next(&entry);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    result.entries.push_back(entry);
  }
  result.warnings = (*walker)->TakeWarnings();
  EXPECT_THAT((*walker)->TakeWarnings(), IsEmpty());
  return result;
}

// Creates a listening-free unix socket bound at dir/name (chdir: the
// absolute path may exceed sun_path).
void MakeSocket(const std::string& dir, const char* name) {
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(::chdir(dir.c_str()), 0);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, name, sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  ::close(fd);
  ASSERT_EQ(::chdir(cwd), 0);
}

// Forwards to a base FileSystem, letting a test alter what it reports.
class TweakedFileSystem final : public FileSystem {
 public:
  explicit TweakedFileSystem(FileSystem* base) : base_(base) {}

  std::function<void(const std::string&, StatInfo*)> tweak_stat;
  std::function<void(const std::string&, std::vector<std::string>*)> tweak_list;
  std::function<void(const std::string&, std::vector<std::pair<std::string, std::string>>*)>
      tweak_xattrs;

  absl::StatusOr<StatInfo> Lstat(const std::string& path) override {
    absl::StatusOr<StatInfo> st = base_->Lstat(path);
    if (st.ok() && tweak_stat) tweak_stat(path, &*st);
    return st;
  }
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override {
    absl::StatusOr<std::vector<std::string>> names = base_->ListDirectory(path);
    if (names.ok() && tweak_list) tweak_list(path, &*names);
    return names;
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override {
    return base_->OpenForRead(path);
  }
  absl::StatusOr<std::string> ReadLink(const std::string& path) override {
    return base_->ReadLink(path);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> GetXattrs(
      const std::string& path) override {
    auto xattrs = base_->GetXattrs(path);
    if (xattrs.ok() && tweak_xattrs) tweak_xattrs(path, &*xattrs);
    return xattrs;
  }

 private:
  FileSystem* const base_;
};

class TreeWalkerTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = test::MakeScratchDir("walk"); }
  std::string P(const std::string& rel) { return root_ + "/" + rel; }

  PosixFileSystem posix_;
  std::string root_;
};

TEST_F(TreeWalkerTest, OrderAndEveryEntryType) {
  test::WriteFile(P("B"), "upper");
  test::MakeDir(P("a"));
  test::WriteFile(P("a/x"), "x");
  test::MakeDir(P("a/z"));
  test::WriteFile(P("a/hl"), "linked");
  ASSERT_EQ(::link(P("a/hl").c_str(), P("hl2").c_str()), 0);
  test::MakeDir(P("zz"));
  ASSERT_EQ(::link(P("a/hl").c_str(), P("zz/hl3").c_str()), 0);
  test::WriteFile(P("a.txt"), "text");
  test::WriteFile(P("empty"), "");
  test::MakeSymlink("a/x", P("rel_link"));
  test::MakeSymlink("/etc/passwd", P("abs_link"));
  test::MakeSymlink("does/not/exist", P("dangling"));
  test::MakeSymlink("a", P("dirlink"));
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0640), 0);
  ASSERT_EQ(::mknod(P("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
  ASSERT_EQ(::mknod(P("loop").c_str(), S_IFBLK | 0660, makedev(7, 0)), 0) << std::strerror(errno);
  MakeSocket(root_, "sock");

  WalkResult r = WalkAll(&posix_, root_);
  EXPECT_THAT(r.Paths(), ElementsAre("", "B", "a", "a/hl", "a/x", "a/z", "a.txt", "abs_link",
                                     "dangling", "dirlink", "empty", "fifo", "hl2", "loop", "null",
                                     "rel_link", "zz", "zz/hl3"));
  std::map<std::string, v1::EntryType> types;
  for (const v1::Entry& e : r.entries) types[e.path()] = e.type();
  EXPECT_EQ(types[""], v1::ENTRY_TYPE_DIRECTORY);
  EXPECT_EQ(types["B"], v1::ENTRY_TYPE_REGULAR);
  EXPECT_EQ(types["a"], v1::ENTRY_TYPE_DIRECTORY);
  EXPECT_EQ(types["a/hl"], v1::ENTRY_TYPE_REGULAR);
  EXPECT_EQ(types["a/z"], v1::ENTRY_TYPE_DIRECTORY);
  EXPECT_EQ(types["abs_link"], v1::ENTRY_TYPE_SYMLINK);
  EXPECT_EQ(types["dangling"], v1::ENTRY_TYPE_SYMLINK);
  EXPECT_EQ(types["dirlink"], v1::ENTRY_TYPE_SYMLINK);
  EXPECT_EQ(types["empty"], v1::ENTRY_TYPE_REGULAR);
  EXPECT_EQ(types["fifo"], v1::ENTRY_TYPE_FIFO);
  EXPECT_EQ(types["hl2"], v1::ENTRY_TYPE_HARDLINK);
  EXPECT_EQ(types["loop"], v1::ENTRY_TYPE_BLOCK_DEVICE);
  EXPECT_EQ(types["null"], v1::ENTRY_TYPE_CHAR_DEVICE);
  EXPECT_EQ(types["rel_link"], v1::ENTRY_TYPE_SYMLINK);
  EXPECT_EQ(types["zz/hl3"], v1::ENTRY_TYPE_HARDLINK);

  EXPECT_EQ(r.Find("B")->size(), 5u);
  EXPECT_EQ(r.Find("empty")->size(), 0u);
  EXPECT_EQ(r.Find("rel_link")->symlink_target(), "a/x");
  EXPECT_EQ(r.Find("rel_link")->size(), 3u);
  EXPECT_EQ(r.Find("abs_link")->symlink_target(), "/etc/passwd");
  EXPECT_EQ(r.Find("dangling")->symlink_target(), "does/not/exist");
  EXPECT_EQ(r.Find("dirlink")->symlink_target(), "a");
  EXPECT_EQ(r.Find("null")->rdev(), makedev(1, 3));
  EXPECT_EQ(r.Find("loop")->rdev(), makedev(7, 0));
  EXPECT_EQ(r.Find("fifo")->mode(), 0640u);

  const v1::Entry* first = r.Find("a/hl");
  EXPECT_EQ(first->size(), 6u);
  EXPECT_EQ(first->nlink(), 3u);
  EXPECT_TRUE(first->hardlink_target().empty());
  for (const char* other : {"hl2", "zz/hl3"}) {
    const v1::Entry* link = r.Find(other);
    EXPECT_EQ(link->hardlink_target(), "a/hl") << other;
    EXPECT_EQ(link->ino(), first->ino());
    EXPECT_EQ(link->dev(), first->dev());
    EXPECT_EQ(link->nlink(), 3u);
  }
  // The walker leaves content fields to the content reader.
  for (const v1::Entry& e : r.entries) {
    EXPECT_FALSE(e.has_payload()) << e.path();
    EXPECT_TRUE(e.extents().empty()) << e.path();
    EXPECT_FALSE(e.sparse()) << e.path();
  }

  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].phase(), v1::PHASE_COLLECTION);
  EXPECT_EQ(r.warnings[0].path(), "sock");
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("socket"));
  EXPECT_THAT(r.warnings[0].message(), HasSubstr(P("sock")));
}

TEST_F(TreeWalkerTest, Metadata) {
  test::WriteFile(P("setuid"), "s");
  test::WriteFile(P("owned"), "o");
  ASSERT_EQ(::chown(P("owned").c_str(), 12345, 12345), 0);
  ASSERT_EQ(::chown(P("setuid").c_str(), 12345, 54321), 0);
  ASSERT_EQ(::chmod(P("setuid").c_str(), 06755), 0);
  test::WriteFile(P("none"), "n", 0);
  test::MakeDir(P("sticky"), 01777);
  test::MakeDir(P("setgid_dir"), 02750);
  test::MakeDir(P("closed"), 0);
  test::WriteFile(P("closed/inside"), "still walked as root");
  test::MakeSymlink("owned", P("link"));
  ASSERT_EQ(::lchown(P("link").c_str(), 4242, 4343), 0);
  const int64_t mtime = 1234567890LL * 1000000000 + 123456789;
  const int64_t atime = 1111111111LL * 1000000000 + 987654321;
  test::SetTimesNs(P("owned"), atime, mtime);
  test::SetTimesNs(P("link"), atime, mtime + 1);
  test::SetTimesNs(P("sticky"), atime, mtime + 2);

  WalkResult r = WalkAll(&posix_, root_);
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_THAT(r.Paths(), ElementsAre("", "closed", "closed/inside", "link", "none", "owned",
                                     "setgid_dir", "setuid", "sticky"));
  EXPECT_EQ(r.Find("setuid")->mode(), 06755u);
  EXPECT_EQ(r.Find("setuid")->uid(), 12345u);
  EXPECT_EQ(r.Find("setuid")->gid(), 54321u);
  EXPECT_EQ(r.Find("none")->mode(), 0u);
  EXPECT_EQ(r.Find("sticky")->mode(), 01777u);
  EXPECT_EQ(r.Find("setgid_dir")->mode(), 02750u);
  EXPECT_EQ(r.Find("closed")->mode(), 0u);
  EXPECT_EQ(r.Find("owned")->uid(), 12345u);
  EXPECT_EQ(r.Find("owned")->gid(), 12345u);
  EXPECT_EQ(r.Find("owned")->mtime_ns(), mtime);
  EXPECT_EQ(r.Find("owned")->atime_ns(), atime);
  EXPECT_EQ(r.Find("link")->mtime_ns(), mtime + 1);
  EXPECT_EQ(r.Find("link")->uid(), 4242u);
  EXPECT_EQ(r.Find("link")->gid(), 4343u);
  EXPECT_EQ(r.Find("sticky")->mtime_ns(), mtime + 2);
  for (const v1::Entry& e : r.entries) {
    struct stat st;
    const std::string abs = e.path().empty() ? root_ : P(e.path());
    ASSERT_EQ(::lstat(abs.c_str(), &st), 0) << abs;
    EXPECT_EQ(e.dev(), st.st_dev) << e.path();
    EXPECT_EQ(e.ino(), st.st_ino) << e.path();
    EXPECT_EQ(e.nlink(), st.st_nlink) << e.path();
    EXPECT_EQ(e.ctime_ns(), st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec) << e.path();
    EXPECT_EQ(e.mode(), st.st_mode & 07777) << e.path();
  }
}

TEST_F(TreeWalkerTest, XattrsAndAcls) {
  test::WriteFile(P("f"), "");
  test::SetXattr(P("f"), "user.b", "2");
  test::SetXattr(P("f"), "user.a", std::string("\0\1", 2));
  test::SetXattr(P("f"), "trusted.t", "t");
  test::MakeDir(P("d"));
  test::WriteFile(P("g"), "");
  // An access ACL written as the kernel's xattr, and with setfacl.
  google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
  for (auto [tag, id, perm] : std::vector<std::tuple<int, int, int>>{
           {1, 0, 6}, {2, 12345, 7}, {4, 0, 4}, {16, 0, 7}, {32, 0, 4}}) {
    v1::AclEntry* e = acl.Add();
    e->set_tag(tag);
    e->set_id(id);
    e->set_perm(perm);
  }
  test::SetXattr(P("f"), std::string(kAclAccessXattr), EncodePosixAclXattr(acl));
  const bool have_setfacl = std::system(("setfacl -d -m u:23456:r-x,g:34567:rw- '" + P("d") +
                                         "' && setfacl -m g:777:rwx '" + P("g") + "'")
                                            .c_str()) == 0;

  WalkResult r = WalkAll(&posix_, root_);
  EXPECT_THAT(r.warnings, IsEmpty());
  const v1::Entry* f = r.Find("f");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->xattrs_size(), 3);
  EXPECT_EQ(f->xattrs(0).name(), "trusted.t");
  EXPECT_EQ(f->xattrs(1).name(), "user.a");
  EXPECT_EQ(f->xattrs(1).value(), std::string("\0\1", 2));
  EXPECT_EQ(f->xattrs(2).name(), "user.b");
  ASSERT_EQ(f->acl_access_size(), 5);
  EXPECT_EQ(f->acl_access(1).tag(), 2u);
  EXPECT_EQ(f->acl_access(1).id(), 12345u);
  EXPECT_EQ(f->acl_access(1).perm(), 7u);
  EXPECT_EQ(f->acl_access(0).id(), 0u);
  EXPECT_TRUE(f->acl_default().empty());

  if (!have_setfacl) {
    GTEST_SKIP() << "setfacl (package acl) is not available; the ACL written "
                    "as an xattr was checked";
  }
  const v1::Entry* d = r.Find("d");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->xattrs().empty());  // ACLs are not listed as xattrs
  EXPECT_TRUE(d->acl_access().empty());
  ASSERT_GE(d->acl_default_size(), 5);
  bool saw_user = false, saw_group = false;
  for (const v1::AclEntry& e : d->acl_default()) {
    if (e.tag() == 2) {
      saw_user = true;
      EXPECT_EQ(e.id(), 23456u);
      EXPECT_EQ(e.perm(), 5u);
    }
    if (e.tag() == 8) {
      saw_group = true;
      EXPECT_EQ(e.id(), 34567u);
      EXPECT_EQ(e.perm(), 6u);
    }
  }
  EXPECT_TRUE(saw_user && saw_group);
  const v1::Entry* g = r.Find("g");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->xattrs().empty());
  bool saw_777 = false;
  for (const v1::AclEntry& e : g->acl_access()) {
    if (e.tag() == 8 && e.id() == 777 && e.perm() == 7) saw_777 = true;
  }
  EXPECT_TRUE(saw_777);
}

TEST_F(TreeWalkerTest, MalformedAclIsDroppedWithWarning) {
  test::WriteFile(P("f"), "");
  TweakedFileSystem fs(&posix_);
  fs.tweak_xattrs = [&](const std::string& path, auto* xattrs) {
    if (path == P("f")) {
      xattrs->emplace_back("system.posix_acl_access", "\x02\0\0\0garbage");
      xattrs->emplace_back("user.kept", "v");
    }
  };
  WalkResult r = WalkAll(&fs, root_);
  const v1::Entry* f = r.Find("f");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->acl_access().empty());
  ASSERT_EQ(f->xattrs_size(), 1);
  EXPECT_EQ(f->xattrs(0).name(), "user.kept");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path(), "f");
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("malformed POSIX ACL"));
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("ACL not stored"));
}

TEST_F(TreeWalkerTest, AwkwardNamesAndDeepNesting) {
  const std::vector<std::string> names = {
      "caf\xc3\xa9",        "new\nline",      "back\\slash", std::string(255, 'n'),
      "\xff\xfe not utf-8", " leading space", "-dash",       "*star?"};
  for (const std::string& name : names) test::WriteFile(P(name), name);
  std::string deep;
  for (int i = 0; i < 60; ++i) {
    deep += (i == 0 ? "" : "/") + std::string("level") + std::to_string(i);
    test::MakeDir(P(deep));
  }
  test::WriteFile(P(deep + "/bottom"), "deep");

  WalkResult r = WalkAll(&posix_, root_);
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.entries.size(), 1 + names.size() + 60 + 1);
  for (const std::string& name : names) {
    const v1::Entry* e = r.Find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->size(), name.size());
  }
  const v1::Entry* bottom = r.Find(deep + "/bottom");
  ASSERT_NE(bottom, nullptr);
  EXPECT_EQ(bottom->size(), 4u);
  // Children sorted bytewise by name.
  std::vector<std::string> top;
  for (const v1::Entry& e : r.entries) {
    if (!e.path().empty() && e.path().find('/') == std::string::npos) {
      top.push_back(e.path());
    }
  }
  EXPECT_TRUE(std::is_sorted(top.begin(), top.end()));
  // Pre-order: every entry's parent directory came before it.
  std::set<std::string> seen = {""};
  for (const v1::Entry& e : r.entries) {
    if (e.path().empty()) continue;
    size_t slash = e.path().rfind('/');
    std::string parent = slash == std::string::npos ? "" : e.path().substr(0, slash);
    EXPECT_TRUE(seen.count(parent)) << e.path();
    seen.insert(e.path());
  }
}

TEST_F(TreeWalkerTest, Excludes) {
  for (const char* d : {"build", "src", "src/build", "src/cache", "cache", "node_modules", "x",
                        "x/node_modules", "docs", "docs/a", "docs/a/b"}) {
    test::MakeDir(P(d));
  }
  for (const char* f : {"build/out", "src/main.c", "src/main.o", "src/build/gen.c", "src/cache/c1",
                        "cache/c2", "node_modules/m", "x/node_modules/m", "x/keep", "file.o",
                        "docs/a/b/readme", "docs/a/b/page.html", "docs/top.html", "cachefile"}) {
    test::WriteFile(P(f), f);
  }
  test::WriteFile(P("src/cache2"), "");
  test::WriteFile(P("x/cache"), "a file named cache");  // dir-only pattern
  absl::StatusOr<PathMatcher> matcher =
      PathMatcher::Create({"*.o", "/build", "cache/", "**/node_modules", "docs/**/*.html"});
  ASSERT_TRUE(matcher.ok()) << matcher.status();
  WalkOptions options;
  options.excludes = &*matcher;
  WalkResult r = WalkAll(&posix_, root_, options);
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_THAT(r.Paths(), ElementsAre("", "cachefile", "docs", "docs/a", "docs/a/b",
                                     "docs/a/b/readme", "src", "src/build", "src/build/gen.c",
                                     "src/cache2", "src/main.c", "x", "x/cache", "x/keep"));
}

TEST_F(TreeWalkerTest, HardlinkTargetIsFirstNonExcludedName) {
  test::MakeDir(P("a"));
  test::WriteFile(P("a/first.tmp"), "data");
  ASSERT_EQ(::link(P("a/first.tmp").c_str(), P("b").c_str()), 0);
  ASSERT_EQ(::link(P("a/first.tmp").c_str(), P("c").c_str()), 0);
  absl::StatusOr<PathMatcher> matcher = PathMatcher::Create({"*.tmp"});
  ASSERT_TRUE(matcher.ok());
  WalkResult r = WalkAll(&posix_, root_, {.excludes = &*matcher});
  EXPECT_THAT(r.Paths(), ElementsAre("", "a", "b", "c"));
  EXPECT_EQ(r.Find("b")->type(), v1::ENTRY_TYPE_REGULAR);
  EXPECT_EQ(r.Find("b")->size(), 4u);
  EXPECT_EQ(r.Find("c")->type(), v1::ENTRY_TYPE_HARDLINK);
  EXPECT_EQ(r.Find("c")->hardlink_target(), "b");
}

TEST_F(TreeWalkerTest, OneFileSystemWithFakedDevice) {
  test::MakeDir(P("local"));
  test::WriteFile(P("local/f"), "");
  test::MakeDir(P("mnt"));
  test::WriteFile(P("mnt/other"), "");
  test::MakeDir(P("mnt/deeper"));
  // Pretend mnt is a mount point: it and everything below on another device.
  TweakedFileSystem fs(&posix_);
  fs.tweak_stat = [&](const std::string& path, StatInfo* st) {
    if (path.rfind(P("mnt"), 0) == 0) st->dev += 1000;
  };
  WalkResult all = WalkAll(&fs, root_);
  EXPECT_THAT(all.Paths(), ElementsAre("", "local", "local/f", "mnt", "mnt/deeper", "mnt/other"));
  WalkResult one = WalkAll(&fs, root_, {.one_file_system = true});
  EXPECT_THAT(one.Paths(), ElementsAre("", "local", "local/f", "mnt"));
  EXPECT_EQ(one.Find("mnt")->type(), v1::ENTRY_TYPE_DIRECTORY);
  EXPECT_THAT(one.warnings, IsEmpty());
}

TEST_F(TreeWalkerTest, OneFileSystemWithRealTmpfsMount) {
  // A private mount namespace keeps the mount invisible to the rest of the
  // machine and drops it when the test process exits.
  if (::unshare(CLONE_NEWNS) != 0) {
    GTEST_SKIP() << "unshare(CLONE_NEWNS) not permitted: " << std::strerror(errno);
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    GTEST_SKIP() << "cannot make / private: " << std::strerror(errno);
  }
  test::MakeDir(P("mnt"));
  test::WriteFile(P("before"), "");
  if (::mount("tmpfs", P("mnt").c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "mount -t tmpfs not permitted: " << std::strerror(errno);
  }
  test::WriteFile(P("mnt/on_tmpfs"), "x");
  WalkResult all = WalkAll(&posix_, root_);
  WalkResult one = WalkAll(&posix_, root_, {.one_file_system = true});
  ::umount2(P("mnt").c_str(), MNT_DETACH);
  EXPECT_THAT(all.Paths(), ElementsAre("", "before", "mnt", "mnt/on_tmpfs"));
  EXPECT_THAT(one.Paths(), ElementsAre("", "before", "mnt"));
  EXPECT_NE(one.Find("mnt")->dev(), one.Find("")->dev());
}

TEST_F(TreeWalkerTest, UnreadableDirectoryIsEmptyWithWarning) {
  test::MakeDir(P("locked"));
  test::WriteFile(P("locked/secret"), "");
  test::WriteFile(P("z"), "");
  FaultInjectionFileSystem fs(&posix_);
  fs.FailListDirectory(
      P("locked"),
      absl::PermissionDeniedError("cannot open directory " + P("locked") + ": Permission denied"));
  WalkResult r = WalkAll(&fs, root_);
  EXPECT_THAT(r.Paths(), ElementsAre("", "locked", "z"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path(), "locked");
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("Permission denied"));
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("stored empty"));
}

TEST_F(TreeWalkerTest, UnreadableXattrsKeepEntryWithWarning) {
  test::WriteFile(P("f"), "");
  test::SetXattr(P("f"), "user.x", "1");
  FaultInjectionFileSystem fs(&posix_);
  fs.FailGetXattrs(P("f"), absl::UnavailableError("cannot list extended "
                                                  "attributes of " +
                                                  P("f") + ": Input/output error"));
  WalkResult r = WalkAll(&fs, root_);
  EXPECT_THAT(r.Paths(), ElementsAre("", "f"));
  EXPECT_TRUE(r.Find("f")->xattrs().empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path(), "f");
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("Input/output error"));
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("without extended"));
}

TEST_F(TreeWalkerTest, EntryVanishedAfterListing) {
  test::WriteFile(P("a"), "");
  test::WriteFile(P("c"), "");
  TweakedFileSystem fs(&posix_);
  fs.tweak_list = [&](const std::string& path, std::vector<std::string>* n) {
    if (path == root_) n->insert(n->begin() + 1, "b-gone");
  };
  WalkResult r = WalkAll(&fs, root_);
  EXPECT_THAT(r.Paths(), ElementsAre("", "a", "c"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path(), "b-gone");
  EXPECT_THAT(r.warnings[0].message(), HasSubstr("vanished"));
}

TEST_F(TreeWalkerTest, OpenErrors) {
  absl::StatusOr<std::unique_ptr<TreeWalker>> missing = TreeWalker::Open(&posix_, P("missing"), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "source " + P("missing") + " does not exist");

  test::WriteFile(P("file"), "");
  absl::StatusOr<std::unique_ptr<TreeWalker>> file = TreeWalker::Open(&posix_, P("file"), {});
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(file.status().message(), "source " + P("file") + " is not a directory");

  test::MakeDir(P("unreadable"));
  FaultInjectionFileSystem fs(&posix_);
  fs.FailListDirectory(P("unreadable"), absl::PermissionDeniedError("Permission denied"));
  absl::StatusOr<std::unique_ptr<TreeWalker>> unreadable =
      TreeWalker::Open(&fs, P("unreadable"), {});
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unreadable.status().message(),
              HasSubstr("source " + P("unreadable") + " cannot be read"));

  absl::StatusOr<std::unique_ptr<TreeWalker>> empty = TreeWalker::Open(&posix_, "", {});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TreeWalkerTest, RootPathForms) {
  test::MakeDir(P("src"));
  test::WriteFile(P("src/f"), "");
  test::MakeSymlink("src", P("link"));

  absl::StatusOr<std::unique_ptr<TreeWalker>> w = TreeWalker::Open(&posix_, P("src") + "//", {});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->root(), P("src"));
  EXPECT_EQ((*w)->AbsolutePath(""), P("src"));
  EXPECT_EQ((*w)->AbsolutePath("f"), P("src/f"));

  // A symlink given as the source is followed (only there).
  WalkResult r = WalkAll(&posix_, P("link"));
  EXPECT_THAT(r.Paths(), ElementsAre("", "f"));
  EXPECT_EQ(r.Find("")->type(), v1::ENTRY_TYPE_DIRECTORY);
  struct stat st;
  ASSERT_EQ(::stat(P("src").c_str(), &st), 0);
  EXPECT_EQ(r.Find("")->ino(), st.st_ino);

  absl::StatusOr<std::unique_ptr<TreeWalker>> slash = TreeWalker::Open(&posix_, "/", {});
  ASSERT_TRUE(slash.ok()) << slash.status();
  EXPECT_EQ((*slash)->root(), "/");
  EXPECT_EQ((*slash)->AbsolutePath("etc"), "/etc");
  EXPECT_EQ((*slash)->AbsolutePath(""), "/");
}

TEST_F(TreeWalkerTest, ReusedEntryIsClearedBetweenCalls) {
  test::WriteFile(P("a"), "content");
  test::SetXattr(P("a"), "user.k", "v");
  test::MakeSymlink("target", P("b"));
  absl::StatusOr<std::unique_ptr<TreeWalker>> w = TreeWalker::Open(&posix_, root_, {});
  ASSERT_TRUE(w.ok());
  v1::Entry entry;
  ASSERT_TRUE(*(*w)->Next(&entry));  // root
  ASSERT_TRUE(*(*w)->Next(&entry));  // a
  EXPECT_EQ(entry.xattrs_size(), 1);
  entry.mutable_payload()->set_length(99);  // as a collector would
  ASSERT_TRUE(*(*w)->Next(&entry));         // b
  EXPECT_EQ(entry.path(), "b");
  EXPECT_EQ(entry.xattrs_size(), 0);
  EXPECT_FALSE(entry.has_payload());
  EXPECT_EQ(entry.symlink_target(), "target");
  EXPECT_FALSE(*(*w)->Next(&entry));
  EXPECT_FALSE(*(*w)->Next(&entry));  // stays at the end
}

}  // namespace
}  // namespace arca::fs
