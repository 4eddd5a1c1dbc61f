// Conformance tests of the WritableFileSystem interface, run against every
// implementation in this folder (PosixWritableFileSystem and a fault-free
// FaultInjectionWritableFileSystem over it), then the fault injection itself.
#include "libs/fs/writable_file_system.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/fault_injection_writable_file_system.h"
#include "libs/fs/test_files.h"

namespace arca::fs {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kAtime = 1600000000LL * 1000000000 + 5;
constexpr int64_t kMtime = 1700000000LL * 1000000000 + 123456789;

std::span<const uint8_t> Bytes(absl::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

struct Impl {
  std::string name;
  std::function<std::unique_ptr<WritableFileSystem>()> make;
  friend void PrintTo(const Impl& impl, std::ostream* os) { *os << impl.name; }
};

class WritableFileSystemConformanceTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    fs_ = GetParam().make();
    dir_ = test::MakeScratchDir("wfs");
    absl::StatusOr<std::unique_ptr<WritableDirectory>> root = fs_->OpenDirectory(dir_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = *std::move(root);
  }
  std::unique_ptr<WritableFileSystem> fs_;
  std::string dir_;
  std::unique_ptr<WritableDirectory> root_;
};

TEST_P(WritableFileSystemConformanceTest, FileWithEveryKindOfMetadata) {
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("f", 0600);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->path(), dir_ + "/f");
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("hello")).ok());
  ASSERT_TRUE((*f)->WriteAt(1 << 20, Bytes("tail")).ok());
  ASSERT_TRUE((*f)->Truncate(2 << 20).ok());
  ASSERT_TRUE((*f)->SetOwner(12345, 54321).ok());
  ASSERT_TRUE((*f)->SetXattr("user.note", "v1").ok());
  absl::StatusOr<size_t> size = (*f)->XattrSize("user.note");
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 2u);
  ASSERT_TRUE((*f)->SetXattr("user.gone", "x").ok());
  ASSERT_TRUE((*f)->RemoveXattr("user.gone").ok());
  EXPECT_EQ(StatusErrno((*f)->RemoveXattr("user.gone")), ENODATA);
  ASSERT_TRUE((*f)->SetMode(04751).ok());
  ASSERT_TRUE((*f)->SetTimes(kAtime, kMtime).ok());
  absl::StatusOr<StatInfo> info = (*f)->Stat();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size, 2u << 20);
  ASSERT_TRUE((*f)->Close().ok());

  struct stat st = Lstat(dir_ + "/f");
  EXPECT_EQ(st.st_mode & 07777, 04751u);
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 54321u);
  EXPECT_EQ(MtimeNs(st), kMtime);
  EXPECT_EQ(st.st_size, 2 << 20);
  EXPECT_LT(st.st_blocks * 512, st.st_size);  // the gaps stay holes
  EXPECT_EQ(test::ReadFile(dir_ + "/f").substr(0, 5), "hello");
  char buf[8];
  EXPECT_EQ(::lgetxattr((dir_ + "/f").c_str(), "user.note", buf, sizeof(buf)), 2);
}

TEST_P(WritableFileSystemConformanceTest, OmittedAtimeIsLeftAlone) {
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("f", 0600);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->SetTimes(kAtime, kMtime).ok());
  ASSERT_TRUE((*f)->SetTimes(std::nullopt, kMtime + 1).ok());
  ASSERT_TRUE((*f)->Close().ok());
  struct stat st = Lstat(dir_ + "/f");
  EXPECT_EQ(int64_t{st.st_atim.tv_sec} * 1000000000 + st.st_atim.tv_nsec, kAtime);
  EXPECT_EQ(MtimeNs(st), kMtime + 1);
}

TEST_P(WritableFileSystemConformanceTest, CreateFileNeverFollowsOrReplaces) {
  test::WriteFile(dir_ + "/outside", "keep");
  test::MakeSymlink(dir_ + "/outside", dir_ + "/link");
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("link", 0600);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusErrno(f.status()), EEXIST);
  EXPECT_THAT(f.status().message(), HasSubstr(dir_ + "/link: File exists"));
  EXPECT_EQ(test::ReadFile(dir_ + "/outside"), "keep");
}

TEST_P(WritableFileSystemConformanceTest, ListNamesAndReadSymlink) {
  test::WriteFile(dir_ + "/b", "x");
  test::WriteFile(dir_ + "/a", "x");
  ASSERT_TRUE(root_->MakeDirectory("c", 0700).ok());
  const std::string long_target(1000, 't');  // longer than the first buffer
  test::MakeSymlink(long_target, dir_ + "/link");
  absl::StatusOr<std::vector<std::string>> names = root_->ListNames();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c", "link"}));
  // The handle stays usable, and lists again from the start.
  absl::StatusOr<std::vector<std::string>> again = root_->ListNames();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *names);
  absl::StatusOr<std::unique_ptr<WritableDirectory>> c = root_->OpenDirectory("c");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::vector<std::string>> empty = (*c)->ListNames();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  absl::StatusOr<std::string> target = root_->ReadSymlink("link");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(*target, long_target);
  absl::StatusOr<std::string> file = root_->ReadSymlink("a");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusErrno(file.status()), EINVAL);
  EXPECT_THAT(file.status().message(), HasSubstr("cannot read symlink " + dir_ + "/a"));
  EXPECT_EQ(root_->ReadSymlink("missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(WritableFileSystemConformanceTest, DirectoriesNeverThroughSymlinks) {
  test::MakeDir(dir_ + "/real");
  test::MakeSymlink("real", dir_ + "/link");
  absl::StatusOr<std::unique_ptr<WritableDirectory>> d = root_->OpenDirectory("link");
  ASSERT_FALSE(d.ok());
  // O_DIRECTORY|O_NOFOLLOW on a symlink: Linux says ENOTDIR (ELOOP elsewhere).
  EXPECT_THAT(StatusErrno(d.status()), ::testing::AnyOf(ENOTDIR, ELOOP));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::optional<StatInfo>> st = root_->Lstat("link");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_TRUE(st->has_value());
  EXPECT_TRUE(S_ISLNK((*st)->mode));
  st = root_->Lstat("missing");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_FALSE(st->has_value());

  ASSERT_TRUE(root_->Unlink("link").ok());  // the link, not real/
  EXPECT_TRUE(S_ISDIR(Lstat(dir_ + "/real").st_mode));
  ASSERT_TRUE(root_->MakeDirectory("sub", 0700).ok());
  EXPECT_EQ(StatusErrno(root_->MakeDirectory("sub", 0700)), EEXIST);
  d = root_->OpenDirectory("sub");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->path(), dir_ + "/sub");
  ASSERT_TRUE((*d)->MakeDirectory("inner", 0700).ok());
  EXPECT_EQ(StatusErrno(root_->RemoveDirectory("sub")), ENOTEMPTY);
  ASSERT_TRUE((*d)->RemoveDirectory("inner").ok());
  ASSERT_TRUE((*d)->SetMode(0751).ok());
  ASSERT_TRUE((*d)->SetTimes(kAtime, kMtime).ok());
  EXPECT_EQ(Lstat(dir_ + "/sub").st_mode & 07777, 0751u);
  EXPECT_EQ(MtimeNs(Lstat(dir_ + "/sub")), kMtime);
}

TEST_P(WritableFileSystemConformanceTest, NodesAndTheirMetadataNotTheirTargets) {
  test::WriteFile(dir_ + "/target", "t", 0644);
  ASSERT_TRUE(root_->CreateSymlink("link", "target").ok());
  ASSERT_TRUE(root_->CreateFifo("fifo", 0600).ok());
  ASSERT_TRUE(root_->CreateDevice("null", S_IFCHR, 0600, makedev(1, 3)).ok());

  absl::StatusOr<std::unique_ptr<WritableNode>> link = root_->OpenNode("link");
  ASSERT_TRUE(link.ok()) << link.status();
  absl::StatusOr<StatInfo> info = (*link)->Stat();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(S_ISLNK(info->mode));
  ASSERT_TRUE((*link)->SetOwner(12345, 54321).ok());
  ASSERT_TRUE((*link)->SetTimes(std::nullopt, kMtime).ok());
  ASSERT_TRUE((*link)->SetXattr("trusted.note", "on the link").ok());
  EXPECT_EQ(Lstat(dir_ + "/link").st_uid, 12345u);
  EXPECT_EQ(MtimeNs(Lstat(dir_ + "/link")), kMtime);
  EXPECT_EQ(Lstat(dir_ + "/target").st_uid, 0u);
  EXPECT_NE(MtimeNs(Lstat(dir_ + "/target")), kMtime);

  absl::StatusOr<std::unique_ptr<WritableNode>> fifo = root_->OpenNode("fifo");
  ASSERT_TRUE(fifo.ok()) << fifo.status();
  ASSERT_TRUE((*fifo)->SetMode(0640).ok());
  EXPECT_EQ(Lstat(dir_ + "/fifo").st_mode, S_IFIFO | 0640);
  EXPECT_EQ(Lstat(dir_ + "/null").st_rdev, makedev(1, 3));
}

TEST_P(WritableFileSystemConformanceTest, LinkSharesTheInode) {
  test::MakeDir(dir_ + "/a");
  test::WriteFile(dir_ + "/a/first", "x");
  absl::StatusOr<std::unique_ptr<WritableDirectory>> a =
      root_->OpenDirectory("a", DirectoryAccess::kLookupOnly);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(root_->Link(**a, "first", "second").ok());
  EXPECT_EQ(Lstat(dir_ + "/a/first").st_ino, Lstat(dir_ + "/second").st_ino);
  absl::Status again = root_->Link(**a, "first", "second");
  EXPECT_EQ(StatusErrno(again), EEXIST);
  EXPECT_THAT(again.message(), HasSubstr(dir_ + "/second"));
}

TEST_P(WritableFileSystemConformanceTest, TargetPathStatMkdirOpen) {
  absl::StatusOr<std::optional<StatInfo>> st = fs_->Stat(dir_ + "/new");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_FALSE(st->has_value());
  ASSERT_TRUE(fs_->MakeDirectory(dir_ + "/new", 0700).ok());
  EXPECT_EQ(StatusErrno(fs_->MakeDirectory(dir_ + "/new", 0700)), EEXIST);
  test::MakeSymlink("new", dir_ + "/alias");  // the operator's path may be one
  absl::StatusOr<std::unique_ptr<WritableDirectory>> d = fs_->OpenDirectory(dir_ + "/alias");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->path(), dir_ + "/alias");
  test::WriteFile(dir_ + "/file", "");
  d = fs_->OpenDirectory(dir_ + "/file");
  EXPECT_EQ(StatusErrno(d.status()), ENOTDIR);
  d = fs_->OpenDirectory(dir_ + "/missing");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(dir_ + "/missing: No such file or directory"));
}

INSTANTIATE_TEST_SUITE_P(
    All, WritableFileSystemConformanceTest,
    ::testing::Values(Impl{"Posix", [] { return std::make_unique<PosixWritableFileSystem>(); }},
                      Impl{"FaultInjectionWithoutFaults",
                           [] {
                             return std::make_unique<FaultInjectionWritableFileSystem>(
                                 DefaultWritableFileSystem());
                           }}),
    [](const ::testing::TestParamInfo<Impl>& info) { return info.param.name; });

TEST(ErrnoToWriteStatusTest, CodesMessagesAndErrno) {
  struct Case {
    int error_number;
    absl::StatusCode code;
  };
  for (const Case& c :
       {Case{ENOSPC, absl::StatusCode::kResourceExhausted},
        Case{EDQUOT, absl::StatusCode::kResourceExhausted},
        Case{EACCES, absl::StatusCode::kPermissionDenied},
        Case{EPERM, absl::StatusCode::kPermissionDenied}, Case{EIO, absl::StatusCode::kUnavailable},
        Case{ENOENT, absl::StatusCode::kNotFound}, Case{EEXIST, absl::StatusCode::kAlreadyExists},
        Case{EROFS, absl::StatusCode::kFailedPrecondition}}) {
    absl::Status s = ErrnoToWriteStatus(c.error_number, "cannot write", "/t/a");
    EXPECT_EQ(s.code(), c.code) << c.error_number;
    EXPECT_EQ(StatusErrno(s), c.error_number);
    EXPECT_EQ(s.message(), absl::StrCat("cannot write /t/a: ", strerror(c.error_number)));
  }
  EXPECT_EQ(StatusErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusErrno(absl::InternalError("no errno")), 0);
}

class FaultInjectionWritableFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::MakeScratchDir("faults");
    absl::StatusOr<std::unique_ptr<WritableDirectory>> root = faults_.OpenDirectory(dir_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = *std::move(root);
  }
  FaultInjectionWritableFileSystem faults_{DefaultWritableFileSystem()};
  std::string dir_;
  std::unique_ptr<WritableDirectory> root_;
};

TEST_F(FaultInjectionWritableFileSystemTest, NthWriteFailsOnce) {
  faults_.Inject({.op = WriteOp::kWrite, .error_number = ENOSPC, .nth = 2});
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("f", 0600);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->WriteAt(0, Bytes("a")).ok());
  absl::Status second = (*f)->WriteAt(1, Bytes("b"));
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusErrno(second), ENOSPC);
  EXPECT_EQ(second.message(),
            absl::StrCat("write (injected fault) ", dir_, "/f: No space left on device"));
  EXPECT_TRUE((*f)->WriteAt(1, Bytes("c")).ok());
  EXPECT_TRUE((*f)->Close().ok());
  EXPECT_EQ(test::ReadFile(dir_ + "/f"), "ac");  // the failed write wrote nothing
  EXPECT_EQ(faults_.calls(WriteOp::kWrite), 3u);
  EXPECT_EQ(faults_.injected(), 1u);
}

TEST_F(FaultInjectionWritableFileSystemTest, StickyFaultKeepsFailing) {
  faults_.Inject({.op = WriteOp::kWrite, .error_number = ENOSPC, .nth = 2, .sticky = true});
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("f", 0600);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->WriteAt(0, Bytes("a")).ok());
  EXPECT_EQ(StatusErrno((*f)->WriteAt(1, Bytes("b"))), ENOSPC);
  EXPECT_EQ(StatusErrno((*f)->WriteAt(1, Bytes("b"))), ENOSPC);
  faults_.ClearFaults();
  EXPECT_TRUE((*f)->WriteAt(1, Bytes("b")).ok());
}

TEST_F(FaultInjectionWritableFileSystemTest, PathPatternSelectsTheCalls) {
  faults_.Inject(
      {.op = WriteOp::kMakeDirectory, .error_number = EACCES, .path_pattern = "*/deep/*"});
  ASSERT_TRUE(root_->MakeDirectory("deep", 0700).ok());
  absl::StatusOr<std::unique_ptr<WritableDirectory>> deep = root_->OpenDirectory("deep");
  ASSERT_TRUE(deep.ok()) << deep.status();
  absl::Status made = (*deep)->MakeDirectory("inner", 0700);
  EXPECT_EQ(made.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(made.message(), HasSubstr(dir_ + "/deep/inner: Permission denied"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/deep/inner"));
  EXPECT_TRUE((*deep)->MakeDirectory("inner", 0700).ok());  // only the 1st
  EXPECT_EQ(faults_.calls(WriteOp::kMakeDirectory), 3u);
}

TEST_F(FaultInjectionWritableFileSystemTest, FailedCloseStillCloses) {
  faults_.Inject({.op = WriteOp::kClose, .error_number = EIO});
  absl::StatusOr<std::unique_ptr<WritableFile>> f = root_->CreateFile("f", 0600);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("data")).ok());
  absl::Status closed = (*f)->Close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusErrno(closed), EIO);
  EXPECT_EQ(test::ReadFile(dir_ + "/f"), "data");
}

TEST_F(FaultInjectionWritableFileSystemTest, LinkUnwrapsItsSource) {
  test::WriteFile(dir_ + "/first", "x");
  ASSERT_TRUE(root_->Link(*root_, "first", "second").ok());
  EXPECT_EQ(Lstat(dir_ + "/first").st_ino, Lstat(dir_ + "/second").st_ino);
  absl::StatusOr<std::unique_ptr<WritableDirectory>> plain =
      DefaultWritableFileSystem()->OpenDirectory(dir_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(root_->Link(**plain, "first", "third").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca::fs
