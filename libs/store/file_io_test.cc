#include "libs/store/file_io.h"

#include <errno.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(ErrnoStatusTest, MapsErrnoToCodesThatSayWhatToDo) {
  absl::Status nospc = ErrnoStatus(ENOSPC, "write", "/r/chunks/x", "/r", true);
  EXPECT_EQ(nospc.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(nospc.message(), HasSubstr("no space left for the repository at /r"));
  EXPECT_THAT(nospc.message(), HasSubstr("write /r/chunks/x"));
  EXPECT_EQ(ErrnoStatus(EDQUOT, "write", "p", "/r", true).code(),
            absl::StatusCode::kResourceExhausted);

  for (int err : {EACCES, EPERM, EROFS}) {
    absl::Status st = ErrnoStatus(err, "create", "/r/chunks/ab", "/r", true);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(st.message(),
                HasSubstr("the repository at /r is not writable: create /r/chunks/ab"));
  }
  absl::Status read = ErrnoStatus(EACCES, "open", "/r/config", "/r", false);
  EXPECT_EQ(read.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(read.message(), HasSubstr("cannot read the repository at /r"));

  EXPECT_EQ(ErrnoStatus(EIO, "read", "p", "/r", false).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoStatus(EIO, "write", "p", "/r", true).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoStatus(ENOENT, "open", "p", "/r", false).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EMFILE, "open", "p", "/r", false).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoStatus(EINVAL, "open", "p", "/r", false).code(), absl::StatusCode::kInternal);
}

TEST(FileIoTest, AtomicWriteReplacesAndLeavesNoTempFile) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/atomic";
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir, "f", "one", dir).ok());
  EXPECT_EQ(ReadWholeFile(dir + "/f", dir).value(), "one");
  ASSERT_TRUE(WriteFileAtomically(dir, "f", "two", dir).ok());
  EXPECT_EQ(ReadWholeFile(dir + "/f", dir).value(), "two");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(ReadWholeFile(dir + "/missing", dir).status().code(), absl::StatusCode::kNotFound);
  absl::Status exists = WriteNewFileDurably(dir + "/f", "x", dir);
  EXPECT_FALSE(exists.ok());
  EXPECT_EQ(ReadWholeFile(dir + "/f", dir).value(), "two");  // O_EXCL kept it
  absl::Status no_dir = WriteFileAtomically(dir + "/nodir", "f", "x", dir);
  EXPECT_EQ(no_dir.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_dir.message(), HasSubstr(dir + "/nodir/.tmp-"));
}

TEST(FileIoTest, RandomHexIsSixteenHexDigitsAndVaries) {
  std::string a = RandomHex16(), b = RandomHex16();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace arca
