// TreeWriter over a FaultInjectionWritableFileSystem: a full disk, I/O errors
// and refused permissions in the middle of a restore give an error with the
// errno's code whose message names the restored path, the target and what to
// do; nothing is written outside the target.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/fault_injection_writable_file_system.h"
#include "libs/fs/writable_file_system.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

using fs::WriteFault;
using fs::WriteOp;
using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

v1::Entry Make(const std::string& path, v1::EntryType type, uint32_t mode) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(type);
  e.set_mode(mode);
  e.set_mtime_ns(1234567890123456789);
  e.set_nlink(1);
  return e;
}

v1::Entry Dir(const std::string& path) { return Make(path, v1::ENTRY_TYPE_DIRECTORY, 0755); }

v1::Entry File(const std::string& path, uint64_t size) {
  v1::Entry e = Make(path, v1::ENTRY_TYPE_REGULAR, 0644);
  e.set_size(size);
  return e;
}

// Every path under `dir`, sorted, with type and size: what a sibling of the
// target holds.
std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    out.push_back(absl::StrCat(e.path().string(), " ", static_cast<int>(e.symlink_status().type()),
                               " ", e.is_regular_file() ? e.file_size() : 0));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class TreeWriterFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
    target_ = base_ + "/target";
    std::filesystem::create_directories(base_ + "/sibling/inner");
    std::ofstream(base_ + "/sibling/inner/keep.txt") << "keep";
    sibling_before_ = Listing(base_ + "/sibling");
  }
  void TearDown() override {
    // Nothing outside the target: the sibling is as it was, and the target's
    // parent holds only the two.
    EXPECT_EQ(Listing(base_ + "/sibling"), sibling_before_);
    std::vector<std::string> top;
    for (const auto& e : std::filesystem::directory_iterator(base_)) {
      top.push_back(e.path().filename());
    }
    std::sort(top.begin(), top.end());
    EXPECT_EQ(top, (std::vector<std::string>{"sibling", "target"}));
  }

  std::unique_ptr<TreeWriter> OpenWriter() {
    absl::StatusOr<std::unique_ptr<TreeWriter>> w = TreeWriter::Open(target_, &faults_);
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(w).value();
  }

  // The root and "d", then BeginEntry of `e`; writes `data` in 4 KiB pieces.
  absl::Status Restore(TreeWriter& w, const v1::Entry& e, const std::string& data) {
    for (const v1::Entry& dir : {Dir(""), Dir("d")}) {
      if (absl::Status s = w.BeginEntry(dir); !s.ok()) return s;
      if (absl::Status s = w.FinishEntry(); !s.ok()) return s;
    }
    if (absl::Status s = w.BeginEntry(e); !s.ok()) return s;
    for (size_t off = 0; off < data.size(); off += 4096) {
      if (absl::Status s = w.WriteData(Bytes(data.substr(off, 4096))); !s.ok()) return s;
    }
    if (absl::Status s = w.FinishEntry(); !s.ok()) return s;
    return w.Finish();
  }

  std::string base_, target_;
  std::vector<std::string> sibling_before_;
  fs::FaultInjectionWritableFileSystem faults_{fs::DefaultWritableFileSystem()};
};

TEST_F(TreeWriterFaultTest, DiskFullDuringDataWrite) {
  // The disk fills up at the third write of d/big.bin and stays full.
  faults_.Inject({.op = WriteOp::kWrite,
                  .error_number = ENOSPC,
                  .nth = 3,
                  .sticky = true,
                  .path_pattern = "*/d/big.bin"});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  const std::string data(64 << 10, 'x');
  absl::Status s = Restore(*w, File("d/big.bin", data.size()), data);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(s.message(),
            "cannot write 4096 bytes at offset 8192 of 'd/big.bin': No space left on device; "
            "free space on the target file system and retry");
  EXPECT_EQ(w->bytes_written(), 8192u);
  EXPECT_EQ(faults_.injected(), 1u);
}

TEST_F(TreeWriterFaultTest, QuotaExceededIsResourceExhaustedToo) {
  faults_.Inject({.op = WriteOp::kWrite, .error_number = EDQUOT});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/f.txt", 5), "hello");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("'d/f.txt': Disk quota exceeded; free space"));
}

TEST_F(TreeWriterFaultTest, IoErrorOnWrite) {
  faults_.Inject({.op = WriteOp::kWrite, .error_number = EIO, .path_pattern = "*/f.txt"});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/f.txt", 5), "hello");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(),
            "cannot write 5 bytes at offset 0 of 'd/f.txt': Input/output error; check the "
            "target file system");
}

TEST_F(TreeWriterFaultTest, IoErrorOnClose) {
  faults_.Inject({.op = WriteOp::kClose, .error_number = EIO});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/f.txt", 5), "hello");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(),
            "cannot close 'd/f.txt' after writing it: Input/output error; check the target file "
            "system");
}

TEST_F(TreeWriterFaultTest, PermissionDeniedCreatingANestedDirectory) {
  faults_.Inject(
      {.op = WriteOp::kMakeDirectory, .error_number = EACCES, .path_pattern = "*/d/sub"});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, Dir("d/sub"), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(s.message(), absl::StrCat("cannot create directory 'd/sub' in ", target_,
                                      ": Permission denied; run the restore as root or choose "
                                      "a target you may write"));
}

TEST_F(TreeWriterFaultTest, PermissionDeniedCreatingAMissingParent) {
  // d/a/b is not in the stream: the writer creates it for d/a/b/f.txt.
  faults_.Inject({.op = WriteOp::kMakeDirectory, .error_number = EACCES, .path_pattern = "*/d/a"});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/a/b/f.txt", 2), "hi");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("cannot create directory 'd/a' in ", target_,
                                                  ": Permission denied")));
}

TEST_F(TreeWriterFaultTest, PermissionDeniedCreatingAFile) {
  faults_.Inject({.op = WriteOp::kCreateFile, .error_number = EACCES});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/f.txt", 2), "hi");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("cannot create file 'd/f.txt' in ", target_,
                                                  ": Permission denied; run the restore")));
  EXPECT_FALSE(std::filesystem::exists(target_ + "/d/f.txt"));
}

TEST_F(TreeWriterFaultTest, RefusedChownIsAWarningNotAnError) {
  faults_.Inject({.op = WriteOp::kSetOwner, .error_number = EPERM, .path_pattern = "*/f.txt"});
  std::unique_ptr<TreeWriter> w = OpenWriter();
  absl::Status s = Restore(*w, File("d/f.txt", 2), "hi");
  ASSERT_TRUE(s.ok()) << s;
  std::vector<v1::Warning> warnings = w->TakeWarnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].path(), "d/f.txt");
  EXPECT_THAT(warnings[0].message(), HasSubstr("owner 0:0 not restored"));
}

TEST_F(TreeWriterFaultTest, TargetThatCannotBeCreated) {
  faults_.Inject(
      {.op = WriteOp::kMakeDirectory, .error_number = EROFS, .path_pattern = "*/target"});
  absl::StatusOr<std::unique_ptr<TreeWriter>> w = TreeWriter::Open(target_, &faults_);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w.status().message(),
            absl::StrCat("cannot create directory ", target_, " for restore target ", target_,
                         ": Read-only file system; the target file system is read-only; choose "
                         "another target"));
  std::filesystem::create_directory(target_);  // for TearDown's listing
}

}  // namespace
}  // namespace arca
