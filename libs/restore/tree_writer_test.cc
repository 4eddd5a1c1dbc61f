#include "libs/restore/tree_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/posix_acl.h"

namespace arca {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kMtime = 1234567890123456789;  // 2009-02-13 23:31:30.123456789
constexpr int64_t kAtime = 1111111111222222222;

std::string Scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
  return dir;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

v1::Entry Make(const std::string& path, v1::EntryType type, uint32_t mode) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(type);
  e.set_mode(mode);
  e.set_mtime_ns(kMtime);
  e.set_atime_ns(kAtime);
  e.set_nlink(1);
  return e;
}

v1::Entry Dir(const std::string& path, uint32_t mode = 0755) {
  return Make(path, v1::ENTRY_TYPE_DIRECTORY, mode);
}

v1::Entry File(const std::string& path, const std::string& content, uint32_t mode = 0644) {
  v1::Entry e = Make(path, v1::ENTRY_TYPE_REGULAR, mode);
  e.set_size(content.size());
  return e;
}

void AddAcl(google::protobuf::RepeatedPtrField<v1::AclEntry>* acl, uint32_t tag, uint32_t id,
            uint32_t perm) {
  v1::AclEntry* a = acl->Add();
  a->set_tag(tag);
  a->set_id(id);
  a->set_perm(perm);
}

// BeginEntry + WriteData (in pieces of `piece` bytes) + FinishEntry.
absl::Status Put(TreeWriter& w, const v1::Entry& e, const std::string& data = "",
                 size_t piece = 3) {
  absl::Status s = w.BeginEntry(e);
  if (!s.ok()) return s;
  for (size_t off = 0; off < data.size(); off += piece) {
    s = w.WriteData(Bytes(data.substr(off, piece)));
    if (!s.ok()) return s;
  }
  return w.FinishEntry();
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return "<missing>";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[1024];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

std::string Command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

class TreeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    target_ = Scratch(name_ + "_target");
    outside_ = Scratch(name_ + "_outside");
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
  }
  std::unique_ptr<TreeWriter> OpenWriter() {
    auto w = TreeWriter::Open(target_);
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(w).value();
  }
  std::string T(const std::string& rel) const { return target_ + "/" + rel; }

  std::string name_, target_, outside_;
};

TEST_F(TreeWriterTest, EveryTypeWithExactMetadata) {
  auto w = OpenWriter();
  v1::Entry root = Dir("", 0751);
  root.set_mtime_ns(kMtime + 7);
  ASSERT_TRUE(Put(*w, root).ok());

  v1::Entry d = Dir("d", 0750);
  d.set_uid(12345);
  d.set_gid(54321);
  d.set_mtime_ns(kMtime + 1);
  v1::Xattr* dx = d.add_xattrs();
  dx->set_name("user.dirnote");
  dx->set_value("on a dir");
  ASSERT_TRUE(Put(*w, d).ok());

  v1::Entry f = File("d/f", "hello, world", 04775);  // group bits = mask
  f.set_uid(12345);
  f.set_gid(54321);
  f.set_nlink(2);
  v1::Xattr* x = f.add_xattrs();
  x->set_name("user.comment");
  x->set_value(std::string("bin\0ary\xff", 8));
  AddAcl(f.mutable_acl_access(), 1, 0, 7);      // user::rwx
  AddAcl(f.mutable_acl_access(), 2, 12345, 4);  // user:12345:r--
  AddAcl(f.mutable_acl_access(), 4, 0, 5);      // group::r-x
  AddAcl(f.mutable_acl_access(), 8, 54321, 6);  // group:54321:rw-
  AddAcl(f.mutable_acl_access(), 16, 0, 7);     // mask::rwx
  AddAcl(f.mutable_acl_access(), 32, 0, 5);     // other::r-x
  ASSERT_TRUE(Put(*w, f, "hello, world").ok());

  v1::Entry l = Make("d/l", v1::ENTRY_TYPE_SYMLINK, 0777);
  l.set_symlink_target("f");
  l.set_size(1);
  l.set_uid(12345);
  l.set_gid(54321);
  l.set_mtime_ns(kMtime + 2);
  ASSERT_TRUE(Put(*w, l).ok());

  v1::Entry h = Make("d/h", v1::ENTRY_TYPE_HARDLINK, 0);
  h.set_hardlink_target("d/f");
  ASSERT_TRUE(Put(*w, h).ok());

  v1::Entry p = Make("p", v1::ENTRY_TYPE_FIFO, 0640);
  p.set_gid(54321);
  ASSERT_TRUE(Put(*w, p).ok());

  v1::Entry c = Make("null", v1::ENTRY_TYPE_CHAR_DEVICE, 0666);
  c.set_rdev(makedev(1, 3));
  ASSERT_TRUE(Put(*w, c).ok());
  v1::Entry b = Make("loop", v1::ENTRY_TYPE_BLOCK_DEVICE, 0660);
  b.set_rdev(makedev(7, 0));
  b.set_uid(12345);
  ASSERT_TRUE(Put(*w, b).ok());

  // A mode-000 directory and a read-only one still receive their children.
  ASSERT_TRUE(Put(*w, Dir("closed", 0)).ok());
  ASSERT_TRUE(Put(*w, File("closed/inside", "x", 0), "x").ok());
  ASSERT_TRUE(Put(*w, Dir("readonly", 0555)).ok());
  ASSERT_TRUE(Put(*w, Dir("readonly/sub", 0500)).ok());
  ASSERT_TRUE(Put(*w, File("readonly/sub/file", "y"), "y").ok());
  ASSERT_TRUE(Put(*w, Dir("sticky", 01777)).ok());
  ASSERT_TRUE(Put(*w, Dir("setgid", 02775)).ok());
  ASSERT_TRUE(Put(*w, File("setgid/f", "", 02711)).ok());

  v1::Entry ad = Dir("acldir", 0770);
  AddAcl(ad.mutable_acl_access(), 1, 0, 7);
  AddAcl(ad.mutable_acl_access(), 4, 0, 7);
  AddAcl(ad.mutable_acl_access(), 32, 0, 0);
  AddAcl(ad.mutable_acl_default(), 1, 0, 7);
  AddAcl(ad.mutable_acl_default(), 2, 12345, 5);
  AddAcl(ad.mutable_acl_default(), 4, 0, 5);
  AddAcl(ad.mutable_acl_default(), 16, 0, 7);
  AddAcl(ad.mutable_acl_default(), 32, 0, 0);
  ASSERT_TRUE(Put(*w, ad).ok());
  ASSERT_TRUE(Put(*w, File("acldir/plain", "no acl", 0640), "no acl").ok());

  ASSERT_TRUE(w->Finish().ok());
  EXPECT_THAT(w->TakeWarnings(), IsEmpty());
  EXPECT_EQ(w->entries_written(), 18u);
  EXPECT_EQ(w->bytes_written(), 12u + 1 + 1 + 6);

  struct stat st = Lstat(target_);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  EXPECT_EQ(MtimeNs(st), kMtime + 7);

  st = Lstat(T("d"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 54321u);
  EXPECT_EQ(MtimeNs(st), kMtime + 1);  // children did not disturb it
  EXPECT_EQ(Xattr(T("d"), "user.dirnote"), "on a dir");

  st = Lstat(T("d/f"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 04775u);  // setuid survived the chown
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 54321u);
  EXPECT_EQ(st.st_size, 12);
  EXPECT_EQ(MtimeNs(st), kMtime);
  EXPECT_EQ(int64_t{st.st_atim.tv_sec} * 1000000000 + st.st_atim.tv_nsec, kAtime);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile(T("d/f")), "hello, world");
  EXPECT_EQ(Xattr(T("d/f"), "user.comment"), std::string("bin\0ary\xff", 8));
  EXPECT_EQ(Xattr(T("d/f"), "system.posix_acl_access"), fs::EncodePosixAclXattr(f.acl_access()));
  // Independent check of the encoding through libacl's getfacl.
  EXPECT_EQ(Command("getfacl -cn --absolute-names '" + T("d/f") + "'"),
            "user::rwx\nuser:12345:r--\ngroup::r-x\ngroup:54321:rw-\n"
            "mask::rwx\nother::r-x\n\n");

  st = Lstat(T("d/l"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 54321u);
  EXPECT_EQ(MtimeNs(st), kMtime + 2);
  char buf[16];
  ASSERT_EQ(readlink(T("d/l").c_str(), buf, sizeof(buf)), 1);
  EXPECT_EQ(buf[0], 'f');

  EXPECT_EQ(Lstat(T("d/h")).st_ino, Lstat(T("d/f")).st_ino);

  st = Lstat(T("p"));
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, 54321u);
  EXPECT_EQ(MtimeNs(st), kMtime);

  st = Lstat(T("null"));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  st = Lstat(T("loop"));
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(7, 0));
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(MtimeNs(st), kMtime);

  EXPECT_EQ(Lstat(T("closed")).st_mode & 07777, 0u);
  EXPECT_EQ(Lstat(T("closed/inside")).st_mode & 07777, 0u);
  EXPECT_EQ(ReadFile(T("closed/inside")), "x");
  EXPECT_EQ(Lstat(T("readonly")).st_mode & 07777, 0555u);
  EXPECT_EQ(Lstat(T("readonly/sub")).st_mode & 07777, 0500u);
  EXPECT_EQ(ReadFile(T("readonly/sub/file")), "y");
  EXPECT_EQ(MtimeNs(Lstat(T("readonly/sub"))), kMtime);
  EXPECT_EQ(Lstat(T("sticky")).st_mode & 07777, 01777u);
  EXPECT_EQ(Lstat(T("setgid")).st_mode & 07777, 02775u);
  EXPECT_EQ(Lstat(T("setgid/f")).st_mode & 07777, 02711u);

  EXPECT_EQ(Command("getfacl -cn --absolute-names -d '" + T("acldir") + "'"),
            "user::rwx\nuser:12345:r-x\ngroup::r-x\nmask::rwx\nother::---\n"
            "\n");
  EXPECT_EQ(Lstat(T("acldir")).st_mode & 07777, 0770u);
  // Children were created before the default ACL: nothing inherited.
  EXPECT_EQ(Xattr(T("acldir/plain"), "system.posix_acl_access"), "<none>");
}

TEST_F(TreeWriterTest, SparseGigabyteFileStaysSparse) {
  auto w = OpenWriter();
  v1::Entry f = Make("sparse", v1::ENTRY_TYPE_REGULAR, 0644);
  const uint64_t size = uint64_t{1} << 30;
  f.set_size(size);
  f.set_sparse(true);
  v1::Extent* e1 = f.add_extents();
  e1->set_offset(1 << 20);
  e1->set_length(5);
  v1::Extent* e2 = f.add_extents();
  e2->set_offset((700 << 20) + 123);
  e2->set_length(7);
  ASSERT_TRUE(w->BeginEntry(f).ok());
  // One write that spans both extents.
  ASSERT_TRUE(w->WriteData(Bytes("firstsecond")).ok());
  ASSERT_TRUE(w->WriteData(Bytes("!")).ok());
  ASSERT_TRUE(w->FinishEntry().ok());
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->bytes_written(), 12u);

  struct stat st = Lstat(T("sparse"));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "allocated " << st.st_blocks;
  int fd = open(T("sparse").c_str(), O_RDONLY);
  char buf[8] = {};
  ASSERT_EQ(pread(fd, buf, 5, 1 << 20), 5);
  EXPECT_EQ(std::string(buf, 5), "first");
  ASSERT_EQ(pread(fd, buf, 7, (700 << 20) + 123), 7);
  EXPECT_EQ(std::string(buf, 7), "second!");
  ASSERT_EQ(pread(fd, buf, 4, (1 << 20) - 2), 4);
  EXPECT_EQ(std::string(buf, 4), std::string("\0\0fi", 4));
  // The tail (past the data block) is a hole.
  EXPECT_EQ(lseek(fd, (700 << 20) + 8192, SEEK_DATA), -1);
  close(fd);
}

TEST_F(TreeWriterTest, SparseWithoutExtentsIsAllHole) {
  auto w = OpenWriter();
  v1::Entry f = Make("hole", v1::ENTRY_TYPE_REGULAR, 0600);
  f.set_size(100 << 20);
  f.set_sparse(true);
  ASSERT_TRUE(Put(*w, f).ok());
  ASSERT_TRUE(w->Finish().ok());
  struct stat st = Lstat(T("hole"));
  EXPECT_EQ(st.st_size, 100 << 20);
  EXPECT_EQ(st.st_blocks, 0);
}

TEST_F(TreeWriterTest, TooMuchDataIsDataLoss) {
  auto w = OpenWriter();
  ASSERT_TRUE(w->BeginEntry(File("f", "abc")).ok());
  ASSERT_TRUE(w->WriteData(Bytes("ab")).ok());
  absl::Status s = w->WriteData(Bytes("cd"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("too much data for 'f'"));
  EXPECT_THAT(s.message(), HasSubstr("declares 3"));
}

TEST_F(TreeWriterTest, TooMuchSparseDataIsDataLoss) {
  auto w = OpenWriter();
  v1::Entry f = Make("s", v1::ENTRY_TYPE_REGULAR, 0644);
  f.set_size(1000);
  f.set_sparse(true);
  f.add_extents()->set_offset(10);
  f.mutable_extents(0)->set_length(4);
  ASSERT_TRUE(w->BeginEntry(f).ok());
  absl::Status s = w->WriteData(Bytes("12345"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("5 bytes arrived but its entry "
                                     "declares 4"));
}

TEST_F(TreeWriterTest, TooLittleDataIsDataLoss) {
  auto w = OpenWriter();
  ASSERT_TRUE(w->BeginEntry(File("dir/f", "0123456789")).ok());
  ASSERT_TRUE(w->WriteData(Bytes("012")).ok());
  absl::Status s = w->FinishEntry();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("'dir/f' ended after 3 of its 10"));
  // The writer can go on with the next entry.
  EXPECT_TRUE(Put(*w, File("g", "ok"), "ok").ok());
}

TEST_F(TreeWriterTest, PlantedSymlinkIsReplacedNotFollowed) {
  ASSERT_EQ(mkdir(target_.c_str(), 0755), 0);
  // An attacker (or an old restore) left symlinks pointing outside.
  ASSERT_EQ(symlink((outside_ + "/victim").c_str(), T("file").c_str()), 0);
  ASSERT_EQ(symlink(outside_.c_str(), T("dir").c_str()), 0);
  ASSERT_EQ(symlink(outside_.c_str(), T("implicit").c_str()), 0);
  ASSERT_EQ(symlink(outside_.c_str(), T("link").c_str()), 0);
  ASSERT_EQ(symlink(outside_.c_str(), T("fifo").c_str()), 0);
  // And a hardlink to a file outside.
  ASSERT_EQ(std::system(("echo precious > " + outside_ + "/hl").c_str()), 0);
  ASSERT_EQ(link((outside_ + "/hl").c_str(), T("hl").c_str()), 0);

  auto w = OpenWriter();
  ASSERT_TRUE(Put(*w, File("file", "restored"), "restored").ok());
  ASSERT_TRUE(Put(*w, Dir("dir", 0700)).ok());
  ASSERT_TRUE(Put(*w, File("dir/x", "in dir"), "in dir").ok());
  // Parent not in the archive (filtered): the symlink is replaced too.
  ASSERT_TRUE(Put(*w, File("implicit/y", "deeper"), "deeper").ok());
  v1::Entry l = Make("link", v1::ENTRY_TYPE_SYMLINK, 0777);
  l.set_symlink_target("file");
  ASSERT_TRUE(Put(*w, l).ok());
  ASSERT_TRUE(Put(*w, Make("fifo", v1::ENTRY_TYPE_FIFO, 0600)).ok());
  ASSERT_TRUE(Put(*w, File("hl", "new"), "new").ok());
  ASSERT_TRUE(w->Finish().ok());

  EXPECT_TRUE(S_ISREG(Lstat(T("file")).st_mode));
  EXPECT_EQ(ReadFile(T("file")), "restored");
  EXPECT_TRUE(S_ISDIR(Lstat(T("dir")).st_mode));
  EXPECT_EQ(ReadFile(T("dir/x")), "in dir");
  EXPECT_TRUE(S_ISDIR(Lstat(T("implicit")).st_mode));
  EXPECT_EQ(Lstat(T("implicit")).st_mode & 07777, 0700u);
  EXPECT_EQ(ReadFile(T("implicit/y")), "deeper");
  EXPECT_TRUE(S_ISFIFO(Lstat(T("fifo")).st_mode));
  EXPECT_EQ(ReadFile(T("hl")), "new");
  EXPECT_EQ(Lstat(T("hl")).st_nlink, 1u);
  // Nothing was written through any of them.
  EXPECT_EQ(ReadFile(outside_ + "/hl"), "precious\n");
  EXPECT_EQ(Command("ls -A " + outside_), "hl\n");
  EXPECT_EQ(Lstat(outside_).st_mode & 07777, 0755u);
}

TEST_F(TreeWriterTest, MissingParentsAreCreatedAndFixedLater) {
  auto w = OpenWriter();
  ASSERT_TRUE(Put(*w, File("a/b/c", "deep"), "deep").ok());
  EXPECT_EQ(Lstat(T("a")).st_mode & 07777, 0700u);
  EXPECT_EQ(Lstat(T("a/b")).st_mode & 07777, 0700u);
  v1::Entry a = Dir("a", 0751);
  a.set_uid(12345);
  ASSERT_TRUE(Put(*w, a).ok());
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(Lstat(T("a")).st_mode & 07777, 0751u);
  EXPECT_EQ(Lstat(T("a")).st_uid, 12345u);
  EXPECT_EQ(MtimeNs(Lstat(T("a"))), kMtime);
  EXPECT_EQ(Lstat(T("a/b")).st_mode & 07777, 0700u);  // never described
  EXPECT_EQ(ReadFile(T("a/b/c")), "deep");
}

TEST_F(TreeWriterTest, ExistingDirectoryIsReusedAndNonEmptyOneBlocksAFile) {
  ASSERT_EQ(
      std::system(("mkdir -p " + T("keep") + " " + T("busy") + " && echo old > " + T("keep/old") +
                   " && echo z > " + T("busy/z") + " && mkdir " + T("emptydir"))
                      .c_str()),
      0);
  auto w = OpenWriter();
  ASSERT_TRUE(Put(*w, Dir("keep", 0705)).ok());
  ASSERT_TRUE(Put(*w, File("keep/new", "n"), "n").ok());
  ASSERT_TRUE(Put(*w, File("emptydir", "now a file"), "now a file").ok());
  absl::Status s = Put(*w, File("busy", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("a directory stands at 'busy'"));
  EXPECT_THAT(s.message(), HasSubstr("restore into an empty directory"));
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(ReadFile(T("keep/old")), "old\n");
  EXPECT_EQ(ReadFile(T("keep/new")), "n");
  EXPECT_EQ(Lstat(T("keep")).st_mode & 07777, 0705u);
  EXPECT_EQ(ReadFile(T("emptydir")), "now a file");
}

TEST_F(TreeWriterTest, InheritedDefaultAclIsRemoved) {
  ASSERT_EQ(mkdir(target_.c_str(), 0755), 0);
  ASSERT_EQ(std::system(("setfacl -d -m u:12345:rwx " + target_).c_str()), 0);
  auto w = OpenWriter();
  ASSERT_TRUE(Put(*w, File("f", "plain", 0640), "plain").ok());
  ASSERT_TRUE(Put(*w, Dir("d", 0750)).ok());
  ASSERT_TRUE(Put(*w, File("d/g", "plain", 0600), "plain").ok());
  ASSERT_TRUE(Put(*w, Make("p", v1::ENTRY_TYPE_FIFO, 0600)).ok());
  ASSERT_TRUE(w->Finish().ok());
  for (const char* rel : {"f", "d", "d/g", "p"}) {
    EXPECT_EQ(Xattr(T(rel), "system.posix_acl_access"), "<none>") << rel;
  }
  EXPECT_EQ(Xattr(T("d"), "system.posix_acl_default"), "<none>");
  EXPECT_EQ(Lstat(T("f")).st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(T("d/g")).st_mode & 07777, 0600u);
}

TEST_F(TreeWriterTest, RefusedXattrBecomesAWarning) {
  auto w = OpenWriter();
  v1::Entry l = Make("l", v1::ENTRY_TYPE_SYMLINK, 0777);
  l.set_symlink_target("nowhere");
  v1::Xattr* x = l.add_xattrs();
  x->set_name("user.not_on_symlinks");  // Linux refuses user.* on symlinks
  x->set_value("v");
  ASSERT_TRUE(Put(*w, l).ok());
  ASSERT_TRUE(w->Finish().ok());
  std::vector<v1::Warning> warnings = w->TakeWarnings();
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_EQ(warnings[0].phase(), v1::PHASE_RESTORE);
  EXPECT_EQ(warnings[0].path(), "l");
  EXPECT_THAT(warnings[0].message(), HasSubstr("'user.not_on_symlinks' not restored"));
  EXPECT_THAT(w->TakeWarnings(), IsEmpty());
  EXPECT_TRUE(S_ISLNK(Lstat(T("l")).st_mode));
}

TEST_F(TreeWriterTest, TrustedXattrOnSymlinkIsRestored) {
  auto w = OpenWriter();
  v1::Entry l = Make("l", v1::ENTRY_TYPE_SYMLINK, 0777);
  l.set_symlink_target("nowhere");
  v1::Xattr* x = l.add_xattrs();
  x->set_name("trusted.on_link");
  x->set_value("v");
  ASSERT_TRUE(Put(*w, l).ok());
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_THAT(w->TakeWarnings(), IsEmpty());
  EXPECT_EQ(Xattr(T("l"), "trusted.on_link"), "v");
}

TEST_F(TreeWriterTest, HardlinkToAFileNotRestoredIsRefused) {
  ASSERT_EQ(mkdir(target_.c_str(), 0755), 0);
  ASSERT_EQ(std::system(("echo old > " + T("preexisting")).c_str()), 0);
  auto w = OpenWriter();
  v1::Entry h = Make("h", v1::ENTRY_TYPE_HARDLINK, 0);
  h.set_hardlink_target("preexisting");
  absl::Status s = Put(*w, h);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("was not restored earlier"));
  h.set_hardlink_target("no/such/file");
  s = Put(*w, h);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("'no/such/file' was not restored"));
  EXPECT_EQ(access(T("h").c_str(), F_OK), -1);
}

TEST_F(TreeWriterTest, PathLongerThanPathMax) {
  auto w = OpenWriter();
  const std::string name(250, 'n');
  std::string path;
  for (int i = 0; i < 20; ++i) {
    path += (i ? "/" : "") + name;
    ASSERT_TRUE(Put(*w, Dir(path, 0700)).ok());
  }
  ASSERT_GT(path.size(), 4096u);
  ASSERT_TRUE(Put(*w, File(path + "/leaf", "far"), "far").ok());
  ASSERT_TRUE(w->Finish().ok());
  int fd = open(target_.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < 20; ++i) {
    int sub = openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    ASSERT_GE(sub, 0) << i;
    close(fd);
    fd = sub;
  }
  struct stat st;
  ASSERT_EQ(fstatat(fd, "leaf", &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(st.st_size, 3);
  EXPECT_EQ(st.st_mtim.tv_nsec, kMtime % 1000000000);
  close(fd);
}

TEST_F(TreeWriterTest, DescriptorsStayBoundedByDepth) {
  const int before = OpenFds();
  auto w = OpenWriter();
  int peak = 0;
  // 60 levels of 255-byte names (15 KiB paths), each with 20 subdirectories
  // and a file: a fd per directory would be 1,260.
  const std::string name(255, 'z');
  std::string path;
  for (int i = 0; i < 60; ++i) {
    path += (i ? "/" : "") + name;
    ASSERT_TRUE(Put(*w, Dir(path, 0555)).ok());
    for (int j = 0; j < 20; ++j) {
      std::string sub = absl::StrCat(path, "/s", j);
      ASSERT_TRUE(Put(*w, Dir(sub, 0500)).ok());
      ASSERT_TRUE(Put(*w, File(sub + "/f", "."), ".").ok());
    }
    peak = std::max(peak, OpenFds() - before);
  }
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_LE(peak, 70);
  EXPECT_LE(OpenFds() - before, 70);
  w.reset();
  EXPECT_EQ(OpenFds(), before);
}

TEST_F(TreeWriterTest, CallOrderErrors) {
  auto w = OpenWriter();
  absl::Status s = w->WriteData(Bytes("x"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("call BeginEntry first"));
  EXPECT_EQ(w->FinishEntry().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(w->BeginEntry(File("a", "1")).ok());
  s = w->BeginEntry(File("b", "1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("'a' is not finished"));
  s = w->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(w->WriteData(Bytes("1")).ok());
  ASSERT_TRUE(w->FinishEntry().ok());
  ASSERT_TRUE(Put(*w, Dir("d")).ok());
  s = w->WriteData(Bytes("x"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w->BeginEntry(File("c", "")).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TreeWriterTest, OpenCreatesParentsAndRefusesAFile) {
  auto w = TreeWriter::Open(target_ + "/x/y/z");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(S_ISDIR(Lstat(target_ + "/x/y/z").st_mode));
  ASSERT_EQ(std::system(("echo f > " + outside_ + "/file").c_str()), 0);
  auto bad = TreeWriter::Open(outside_ + "/file");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad.status().message(), HasSubstr("is not a directory"));
  auto empty = TreeWriter::Open("");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
