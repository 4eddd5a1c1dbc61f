// The embedded space check on a nearly full file system (a tmpfs; skipped
// where mounting is not allowed): an unchanged re-backup passes (the
// estimate with a parent counts only new and changed files), a new file
// that does not fit is refused with exit 5, and --no-space-check turns the
// check off.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

void WriteRandomFile(const std::string& path, size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(bytes, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
}

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs v;
  if (statvfs(dir.c_str(), &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

class EmbeddedSpaceCheckTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!mnt_.empty() && umount2(mnt_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << mnt_ << ": " << strerror(errno);
    }
  }
  std::string mnt_;
};

TEST_F(EmbeddedSpaceCheckTest, FullDiskUnchangedRebackupAndNoSpaceCheck) {
  const std::string dir = NewTempDir("space_fs");
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=16m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << strerror(errno);
  }
  mnt_ = dir;
  const std::string repo = dir + "/repo";
  const std::string src = NewTempDir("space_src");
  WriteRandomFile(src + "/a.bin", 6 << 20, 1);  // incompressible: ratio ≈ 1
  RunResult init = RunArca({"init", "--repo", repo});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  RunResult first = RunArca({"backup", src, "--repo", repo, "--no-progress"});
  ASSERT_EQ(first.exit_code, 0) << first.Describe();

  // Leave about 1 MiB free: the parent's 6 MiB × 1.5 no longer fit.
  const uint64_t free_now = FreeBytes(dir);
  ASSERT_GT(free_now, 2u << 20);
  WriteRandomFile(dir + "/filler", free_now - (1u << 20), 2);
  ASSERT_LT(FreeBytes(dir), 2u << 20);

  // Unchanged: nothing to read, so nothing to store.
  RunResult unchanged = RunArca({"backup", src, "--repo", repo, "--no-progress"});
  EXPECT_EQ(unchanged.exit_code, 0) << unchanged.Describe();

  // Every byte read again (--change-detection data): refused, then forced.
  RunResult data =
      RunArca({"backup", src, "--repo", repo, "--no-progress", "--change-detection", "data"});
  EXPECT_EQ(data.exit_code, 5) << data.Describe();
  EXPECT_NE(data.err.find("not enough free space in"), std::string::npos) << data.Describe();
  RunResult forced = RunArca({"backup", src, "--repo", repo, "--no-progress", "--change-detection",
                              "data", "--no-space-check"});
  EXPECT_EQ(forced.exit_code, 0) << forced.Describe();

  // A new 3 MiB file: the estimate is the new file alone, which does not fit.
  WriteRandomFile(src + "/b.bin", 3 << 20, 3);
  RunResult grown = RunArca({"backup", src, "--repo", repo, "--no-progress"});
  EXPECT_EQ(grown.exit_code, 5) << grown.Describe();
  EXPECT_NE(grown.err.find("(3145728 bytes to collect"), std::string::npos) << grown.Describe();

  RunResult verify = RunArca({"verify", "--repo", repo});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

}  // namespace
}  // namespace arca::e2e
