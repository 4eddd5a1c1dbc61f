// Conformance tests of the FileSystem interface, run against every
// implementation in this folder (PosixFileSystem and a fault-free
// FaultInjectionFileSystem over it), and the fault-injection behaviour.
#include "libs/fs/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/fs/test_files.h"

namespace arca::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::span<uint8_t> AsSpan(std::string& s) {
  return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
}

struct Impl {
  std::string name;
  std::function<std::unique_ptr<FileSystem>()> make;
  friend void PrintTo(const Impl& impl, std::ostream* os) { *os << impl.name; }
};

class FileSystemConformanceTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    fs_ = GetParam().make();
    dir_ = test::MakeScratchDir("fs");
  }
  std::unique_ptr<FileSystem> fs_;
  std::string dir_;
};

TEST_P(FileSystemConformanceTest, LstatRegularFile) {
  const std::string path = dir_ + "/f";
  test::WriteFile(path, "hello", 04751);
  test::SetTimesNs(path, 1000000000LL * 1600000000 + 5, 1000000000LL * 1700000000 + 123456789);
  ASSERT_EQ(::lchown(path.c_str(), 12345, 23456), 0);
  ASSERT_EQ(::chmod(path.c_str(), 04751), 0);  // chown cleared setuid
  absl::StatusOr<StatInfo> st = fs_->Lstat(path);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(S_ISREG(st->mode));
  EXPECT_EQ(st->mode & 07777, 04751u);
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->uid, 12345u);
  EXPECT_EQ(st->gid, 23456u);
  EXPECT_EQ(st->mtime_ns, 1000000000LL * 1700000000 + 123456789);
  EXPECT_EQ(st->atime_ns, 1000000000LL * 1600000000 + 5);
  EXPECT_GT(st->ctime_ns, 0);
  EXPECT_EQ(st->nlink, 1u);
  EXPECT_NE(st->ino, 0u);
  struct stat raw;
  ASSERT_EQ(::lstat(path.c_str(), &raw), 0);
  EXPECT_EQ(st->dev, raw.st_dev);
  EXPECT_EQ(st->ino, raw.st_ino);
  EXPECT_EQ(st->blocks, static_cast<uint64_t>(raw.st_blocks));
}

TEST_P(FileSystemConformanceTest, LstatDoesNotFollowSymlinks) {
  test::MakeSymlink("nowhere/at/all", dir_ + "/link");
  absl::StatusOr<StatInfo> st = fs_->Lstat(dir_ + "/link");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(S_ISLNK(st->mode));
  EXPECT_EQ(st->size, 14u);
}

TEST_P(FileSystemConformanceTest, LstatMissingIsNotFound) {
  absl::StatusOr<StatInfo> st = fs_->Lstat(dir_ + "/missing");
  EXPECT_EQ(st.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.status().message(), HasSubstr(dir_ + "/missing"));
  EXPECT_THAT(st.status().message(), HasSubstr("No such file or directory"));
}

TEST_P(FileSystemConformanceTest, ListDirectorySortedWithoutDots) {
  for (const char* name : {"b", "a", "B", ".hidden", "a b", "\xc3\xa9", "~"}) {
    test::WriteFile(dir_ + "/" + name, "");
  }
  test::MakeDir(dir_ + "/sub");
  absl::StatusOr<std::vector<std::string>> names = fs_->ListDirectory(dir_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre(".hidden", "B", "a", "a b", "b", "sub", "~", "\xc3\xa9"));
  absl::StatusOr<std::vector<std::string>> empty = fs_->ListDirectory(dir_ + "/sub");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST_P(FileSystemConformanceTest, ListDirectoryErrors) {
  absl::StatusOr<std::vector<std::string>> missing = fs_->ListDirectory(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/missing"));
  test::WriteFile(dir_ + "/file", "x");
  absl::StatusOr<std::vector<std::string>> file = fs_->ListDirectory(dir_ + "/file");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(file.status().message(), HasSubstr(dir_ + "/file"));
}

TEST_P(FileSystemConformanceTest, ReadAtReadsUpToEndOfFile) {
  const std::string path = dir_ + "/f";
  test::WriteFile(path, "0123456789");
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = fs_->OpenForRead(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string buf(4, '\0');
  absl::StatusOr<size_t> n = (*file)->ReadAt(3, AsSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(buf, "3456");
  n = (*file)->ReadAt(8, AsSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(buf.substr(0, 2), "89");
  n = (*file)->ReadAt(10, AsSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = (*file)->ReadAt(1000, AsSpan(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);

  absl::StatusOr<StatInfo> st = (*file)->Stat();
  ASSERT_TRUE(st.ok()) << st.status();
  absl::StatusOr<StatInfo> lst = fs_->Lstat(path);
  ASSERT_TRUE(lst.ok());
  EXPECT_EQ(st->ino, lst->ino);
  EXPECT_EQ(st->size, 10u);
}

TEST_P(FileSystemConformanceTest, OpenForReadErrors) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> missing = fs_->OpenForRead(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/missing"));

  test::WriteFile(dir_ + "/target", "data");
  test::MakeSymlink("target", dir_ + "/link");
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> link = fs_->OpenForRead(dir_ + "/link");
  EXPECT_EQ(link.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(link.status().message(), HasSubstr("symlink"));
}

TEST_P(FileSystemConformanceTest, OpenForReadOfFifoDoesNotBlock) {
  const std::string path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = fs_->OpenForRead(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<StatInfo> st = (*file)->Stat();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISFIFO(st->mode));
}

TEST_P(FileSystemConformanceTest, DataExtentsOfSparseDenseAndEmptyFiles) {
  const std::string sparse = dir_ + "/sparse";
  {
    int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
    ASSERT_EQ(::pwrite(fd, "abc", 3, 1 << 20), 3);
    ASSERT_EQ(::pwrite(fd, "xyz", 3, (32 << 20) + 5), 3);
    ::close(fd);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = fs_->OpenForRead(sparse);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<std::vector<v1::Extent>> extents = (*file)->DataExtents(64 << 20);
  ASSERT_TRUE(extents.ok()) << extents.status();
  ASSERT_EQ(extents->size(), 2u);
  EXPECT_LE((*extents)[0].offset(), 1u << 20);
  EXPECT_GE((*extents)[0].offset() + (*extents)[0].length(), (1u << 20) + 3);
  EXPECT_LE((*extents)[1].offset(), (32u << 20) + 5);
  EXPECT_GE((*extents)[1].offset() + (*extents)[1].length(), (32u << 20) + 8);
  EXPECT_LT((*extents)[0].length() + (*extents)[1].length(), 1u << 20);

  // Clipped to the size asked for.
  absl::StatusOr<std::vector<v1::Extent>> first = (*file)->DataExtents((1 << 20) + 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].offset() + (*first)[0].length(), (1u << 20) + 2);

  const std::string dense = dir_ + "/dense";
  test::WriteFile(dense, std::string(10000, 'd'));
  file = fs_->OpenForRead(dense);
  ASSERT_TRUE(file.ok());
  extents = (*file)->DataExtents(10000);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->size(), 1u);
  EXPECT_EQ((*extents)[0].offset(), 0u);
  EXPECT_EQ((*extents)[0].length(), 10000u);
  extents = (*file)->DataExtents(0);
  ASSERT_TRUE(extents.ok());
  EXPECT_TRUE(extents->empty());

  const std::string hole = dir_ + "/hole";
  {
    int fd = ::open(hole.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
  }
  file = fs_->OpenForRead(hole);
  ASSERT_TRUE(file.ok());
  extents = (*file)->DataExtents(1 << 20);
  ASSERT_TRUE(extents.ok());
  EXPECT_TRUE(extents->empty());
}

TEST_P(FileSystemConformanceTest, ReadLinkAnyLength) {
  const std::string long_target =
      std::string(300, 'a') + "/" + std::string(200, 'b') + "/" + std::string(250, 'c');
  test::MakeSymlink(long_target, dir_ + "/long");
  test::MakeSymlink("/absolute/target", dir_ + "/abs");
  absl::StatusOr<std::string> target = fs_->ReadLink(dir_ + "/long");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(*target, long_target);
  target = fs_->ReadLink(dir_ + "/abs");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "/absolute/target");

  test::WriteFile(dir_ + "/file", "");
  absl::StatusOr<std::string> not_link = fs_->ReadLink(dir_ + "/file");
  EXPECT_EQ(not_link.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_link.status().message(), HasSubstr(dir_ + "/file"));
  absl::StatusOr<std::string> missing = fs_->ReadLink(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_P(FileSystemConformanceTest, GetXattrsSortedAnySize) {
  const std::string path = dir_ + "/f";
  test::WriteFile(path, "");
  const std::string big(2000, 'v');  // > the 256-byte first try
  test::SetXattr(path, "user.zeta", "last");
  test::SetXattr(path, "user.alpha", "first");
  test::SetXattr(path, "user.big", big);
  test::SetXattr(path, "user.empty", "");
  test::SetXattr(path, "user.bin", std::string("\0\x01\xff", 3));
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> xattrs = fs_->GetXattrs(path);
  ASSERT_TRUE(xattrs.ok()) << xattrs.status();
  EXPECT_THAT(*xattrs, ElementsAre(Pair("user.alpha", "first"), Pair("user.big", big),
                                   Pair("user.bin", std::string("\0\x01\xff", 3)),
                                   Pair("user.empty", ""), Pair("user.zeta", "last")));
}

TEST_P(FileSystemConformanceTest, GetXattrsLongNameList) {
  const std::string path = dir_ + "/f";
  test::WriteFile(path, "");
  // More than the 1 KiB first-try buffer of names.
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) {
    names.push_back("user." + std::string(40, 'a' + (i % 26)) + std::to_string(100 + i));
    test::SetXattr(path, names.back(), std::to_string(i));
  }
  std::sort(names.begin(), names.end());
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> xattrs = fs_->GetXattrs(path);
  ASSERT_TRUE(xattrs.ok()) << xattrs.status();
  ASSERT_EQ(xattrs->size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ((*xattrs)[i].first, names[i]);
  }
}

TEST_P(FileSystemConformanceTest, GetXattrsDoesNotFollowSymlinks) {
  test::WriteFile(dir_ + "/target", "");
  test::SetXattr(dir_ + "/target", "user.k", "v");
  test::MakeSymlink("target", dir_ + "/link");
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> xattrs =
      fs_->GetXattrs(dir_ + "/link");
  ASSERT_TRUE(xattrs.ok()) << xattrs.status();
  EXPECT_TRUE(xattrs->empty());
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> missing =
      fs_->GetXattrs(dir_ + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/missing"));
}

PosixFileSystem* SharedPosix() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

INSTANTIATE_TEST_SUITE_P(
    AllFileSystems, FileSystemConformanceTest,
    ::testing::Values(Impl{"Posix", [] { return std::make_unique<PosixFileSystem>(); }},
                      Impl{"FaultInjectionWithoutFaults",
                           [] {
                             return std::make_unique<FaultInjectionFileSystem>(SharedPosix());
                           }}),
    [](const ::testing::TestParamInfo<Impl>& info) { return info.param.name; });

TEST(DefaultFileSystemTest, IsOneProcessWideInstance) {
  ASSERT_NE(DefaultFileSystem(), nullptr);
  EXPECT_EQ(DefaultFileSystem(), DefaultFileSystem());
}

TEST(ErrnoToStatusTest, MapsCodesAndNamesPath) {
  absl::Status s = ErrnoToStatus(ENOENT, "cannot open", "/a/b");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cannot open /a/b: No such file or directory");
  EXPECT_EQ(ErrnoToStatusCode(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatusCode(EPERM), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatusCode(ENOTDIR), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrnoToStatusCode(EIO), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoToStatusCode(ENOSPC), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatusCode(EBADF), absl::StatusCode::kInternal);
}

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::MakeScratchDir("fault");
    test::WriteFile(dir_ + "/f", "0123456789");
    test::WriteFile(dir_ + "/g", "other");
  }
  PosixFileSystem posix_;
  FaultInjectionFileSystem fs_{&posix_};
  std::string dir_;
};

TEST_F(FaultInjectionTest, FailOpenAffectsOnlyThatPath) {
  fs_.FailOpen(dir_ + "/f", absl::PermissionDeniedError("injected denial"));
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> f = fs_.OpenForRead(dir_ + "/f");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(f.status().message(), "injected denial");
  EXPECT_TRUE(fs_.OpenForRead(dir_ + "/g").ok());
  EXPECT_TRUE(fs_.Lstat(dir_ + "/f").ok());
  fs_.ClearFaults();
  EXPECT_TRUE(fs_.OpenForRead(dir_ + "/f").ok());
}

TEST_F(FaultInjectionTest, FailReadAfterBytes) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> f = fs_.OpenForRead(dir_ + "/f");
  ASSERT_TRUE(f.ok());
  // Injected after the open: applies to the open file too.
  fs_.FailRead(dir_ + "/f", absl::UnavailableError("injected EIO"), 4);
  std::string buf(4, '\0');
  absl::StatusOr<size_t> n = (*f)->ReadAt(0, AsSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();  // ends exactly at byte 4
  EXPECT_EQ(buf, "0123");
  n = (*f)->ReadAt(2, AsSpan(buf));  // would deliver bytes 4 and 5
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  n = (*f)->ReadAt(4, AsSpan(buf));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(n.status().message(), "injected EIO");

  fs_.FailRead(dir_ + "/g", absl::DataLossError("bad sector"));
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> g = fs_.OpenForRead(dir_ + "/g");
  ASSERT_TRUE(g.ok());
  n = (*g)->ReadAt(0, AsSpan(buf));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FaultInjectionTest, VanishedFileIsListedButCannotBeOpened) {
  fs_.Vanish(dir_ + "/f");
  absl::StatusOr<std::vector<std::string>> names = fs_.ListDirectory(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("f", "g"));
  EXPECT_TRUE(fs_.Lstat(dir_ + "/f").ok());
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> f = fs_.OpenForRead(dir_ + "/f");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr(dir_ + "/f"));
  EXPECT_THAT(f.status().message(), HasSubstr("vanished"));
}

TEST_F(FaultInjectionTest, CountsOpens) {
  EXPECT_EQ(fs_.open_count(), 0u);
  fs_.Vanish(dir_ + "/g");
  ASSERT_TRUE(fs_.OpenForRead(dir_ + "/f").ok());
  ASSERT_TRUE(fs_.OpenForRead(dir_ + "/f").ok());
  ASSERT_FALSE(fs_.OpenForRead(dir_ + "/g").ok());
  ASSERT_FALSE(fs_.OpenForRead(dir_ + "/missing").ok());
  ASSERT_TRUE(fs_.Lstat(dir_ + "/f").ok());
  ASSERT_TRUE(fs_.ListDirectory(dir_).ok());
  EXPECT_EQ(fs_.open_count(), 4u);
  EXPECT_EQ(fs_.open_count(dir_ + "/f"), 2u);
  EXPECT_EQ(fs_.open_count(dir_ + "/g"), 1u);
  EXPECT_EQ(fs_.open_count(dir_ + "/never"), 0u);
}

TEST_F(FaultInjectionTest, FailListDirectoryAndXattrs) {
  fs_.FailListDirectory(dir_, absl::PermissionDeniedError("no listing"));
  EXPECT_EQ(fs_.ListDirectory(dir_).status().code(), absl::StatusCode::kPermissionDenied);
  fs_.FailGetXattrs(dir_ + "/f", absl::UnavailableError("no xattrs"));
  EXPECT_EQ(fs_.GetXattrs(dir_ + "/f").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fs_.GetXattrs(dir_ + "/g").ok());
}

}  // namespace
}  // namespace arca::fs
