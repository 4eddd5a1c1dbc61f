// RunRestore (what `arca restore` runs) writing through a
// FaultInjectionWritableFileSystem: a full disk, an I/O error or a refused
// permission in the middle of the tree gives exit 13 (ExitCode::kRestore)
// with the restored path and the system error in the message, and nothing
// outside the target is created or changed.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/fault_injection_writable_file_system.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/restore.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

struct FaultCase {
  std::string name;
  fs::WriteFault fault;
  absl::StatusCode code;
  std::string path;   // the restored path the message must name
  std::string error;  // and the system error
  friend void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }
};

// Every path under `dir` except those under `skip`, with type, size and
// mtime (ns): a directory's mtime shows anything created or removed in it.
std::vector<std::string> Listing(const std::string& dir, const std::string& skip) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string p = e.path().string();
    if (p == skip || p.starts_with(skip + "/")) continue;
    struct stat st;
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
    out.push_back(absl::StrCat(p, " mode=", st.st_mode, " size=", st.st_size,
                               " mtime=", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class RestoreFaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  void SetUp() override {
    base_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/restore_fault_", GetParam().name);
    std::filesystem::remove_all(base_);
    const std::string src = base_ + "/src";
    std::filesystem::create_directories(src + "/dir/nested");
    Write(src + "/good.txt", "good\n");
    Write(src + "/dir/big.bin", std::string(3 << 20, 'b'));
    Write(src + "/dir/nested/deep.txt", "deep\n");
    Write(src + "/zlast.txt", "last\n");
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    BackupOptions backup;
    backup.source = src;
    backup.host = "testhost";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), backup, nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status;
    snapshot_ = r.manifest.id();

    // The target's neighbours: a sibling tree with a file.
    out_ = base_ + "/out";
    std::filesystem::create_directories(out_ + "/sibling/inner");
    Write(out_ + "/sibling/inner/keep.txt", "keep\n");
    target_ = out_ + "/target";
  }

  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  std::string base_, out_, target_, snapshot_;
  std::unique_ptr<Repository> repo_;
};

TEST_P(RestoreFaultTest, Exit13NamingThePathAndNothingOutsideTheTarget) {
  const FaultCase& c = GetParam();
  const std::vector<std::string> before = Listing(out_, target_);
  const std::vector<std::string> src_before = Listing(base_ + "/src", "");

  fs::FaultInjectionWritableFileSystem faults(fs::DefaultWritableFileSystem());
  faults.Inject(c.fault);
  RestoreOptions options;
  options.target = target_;
  options.file_system = &faults;
  RestoreResult r = RunRestore(*repo_, snapshot_, options, nullptr);

  EXPECT_EQ(r.exit_code, ExitCode::kRestore) << r.status;
  EXPECT_EQ(r.status.code(), c.code) << r.status;
  EXPECT_THAT(r.status.message(), HasSubstr(absl::StrCat("'", c.path, "'")));
  EXPECT_THAT(r.status.message(), HasSubstr(c.error));
  EXPECT_EQ(faults.injected(), 1u);
  // Nothing outside the target: the sibling tree and the source as they were.
  EXPECT_EQ(Listing(out_, target_), before);
  EXPECT_EQ(Listing(base_ + "/src", ""), src_before);
  EXPECT_TRUE(std::filesystem::is_directory(target_));

  // The same restore without the fault succeeds over the partial tree.
  faults.ClearFaults();
  RestoreResult again = RunRestore(*repo_, snapshot_, options, nullptr);
  EXPECT_EQ(again.exit_code, ExitCode::kSuccess) << again.status;
  EXPECT_EQ(std::filesystem::file_size(target_ + "/dir/big.bin"), 3u << 20);
  EXPECT_EQ(Listing(out_, target_), before);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, RestoreFaultTest,
    ::testing::Values(
        FaultCase{"DiskFullWritingData",
                  {.op = fs::WriteOp::kWrite,
                   .error_number = ENOSPC,
                   .nth = 2,
                   .sticky = true,
                   .path_pattern = "*/dir/big.bin"},
                  absl::StatusCode::kResourceExhausted,
                  "dir/big.bin",
                  "No space left on device; free space on the target file system"},
        FaultCase{"IoErrorOnClose",
                  {.op = fs::WriteOp::kClose, .error_number = EIO, .path_pattern = "*/good.txt"},
                  absl::StatusCode::kUnavailable,
                  "good.txt",
                  "Input/output error"},
        FaultCase{"IoErrorOnWrite",
                  {.op = fs::WriteOp::kWrite, .error_number = EIO, .path_pattern = "*/zlast.txt"},
                  absl::StatusCode::kUnavailable,
                  "zlast.txt",
                  "Input/output error"},
        FaultCase{"PermissionDeniedOnNestedMkdir",
                  {.op = fs::WriteOp::kMakeDirectory,
                   .error_number = EACCES,
                   .path_pattern = "*/dir/nested"},
                  absl::StatusCode::kPermissionDenied,
                  "dir/nested",
                  "Permission denied; run the restore as root"},
        FaultCase{"PermissionDeniedOnNestedCreate",
                  {.op = fs::WriteOp::kCreateFile,
                   .error_number = EACCES,
                   .path_pattern = "*/dir/nested/deep.txt"},
                  absl::StatusCode::kPermissionDenied,
                  "dir/nested/deep.txt",
                  "Permission denied"}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return info.param.name; });

}  // namespace
}  // namespace arca
