// RunBackup with injected file-system faults: unreadable and vanished files
// give exit 3 with the path in the report, the rest of the tree is stored.
#include "libs/pipeline/backup.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/pipeline/restore.h"
#include "libs/pipeline/verify.h"

namespace arca {
namespace {

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(base_);
    src_ = base_ + "/src";
    std::filesystem::create_directories(src_ + "/dir");
    Write(src_ + "/good.txt", "good\n");
    Write(src_ + "/dir/bad.txt", std::string(3 << 20, 'b'));
    Write(src_ + "/dir/gone.txt", "gone\n");
    Write(src_ + "/zlast.txt", "last\n");
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    auto repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(*repo);
    options_.source = src_;
    options_.host = "testhost";
  }

  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  std::vector<std::string> Paths(const std::string& snapshot) {
    std::vector<std::string> out;
    absl::Status st = ForEachEntry(*repo_, snapshot, [&](const v1::Entry& e) {
      out.push_back(e.path());
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  std::string base_, src_;
  std::unique_ptr<Repository> repo_;
  BackupOptions options_;
};

TEST_F(BackupTest, CleanBackupExits0) {
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.exit_code, ExitCode::kSuccess);
  EXPECT_EQ(r.manifest.stats().files(), 4u);
  EXPECT_EQ(Paths(r.manifest.id()),
            (std::vector<std::string>{"", "dir", "dir/bad.txt", "dir/gone.txt", "good.txt",
                                      "zlast.txt"}));
}

TEST_F(BackupTest, UnreadableAndVanishedFilesGiveExit3WithPaths) {
  fs::FaultInjectionFileSystem faults(fs::DefaultFileSystem());
  faults.FailRead(src_ + "/dir/bad.txt", absl::DataLossError("injected I/O error"), 1 << 20);
  faults.Vanish(src_ + "/dir/gone.txt");
  BackupResult r = RunBackup(*repo_, &faults, options_, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.exit_code, ExitCode::kPartial);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].path(), "dir/bad.txt");
  EXPECT_NE(r.warnings[0].message().find("injected I/O error"), std::string::npos);
  EXPECT_EQ(r.warnings[1].path(), "dir/gone.txt");
  EXPECT_EQ(r.manifest.stats().files_skipped(), 2u);
  EXPECT_EQ(r.manifest.warnings_size(), 2);
  // The snapshot holds everything else, and verifies.
  EXPECT_EQ(Paths(r.manifest.id()), (std::vector<std::string>{"", "dir", "good.txt", "zlast.txt"}));
  EXPECT_EQ(RunVerify(*repo_, "", nullptr).exit_code, ExitCode::kSuccess);
}

TEST_F(BackupTest, UnreadableDirectoryIsAWarning) {
  fs::FaultInjectionFileSystem faults(fs::DefaultFileSystem());
  faults.FailListDirectory(src_ + "/dir", absl::PermissionDeniedError("injected EACCES"));
  BackupResult r = RunBackup(*repo_, &faults, options_, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.exit_code, ExitCode::kPartial);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_EQ(r.warnings[0].path(), "dir");
}

TEST_F(BackupTest, SocketOnlyWarnsAndExits0) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  // sun_path is short: bind a relative name from inside the directory.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir((src_ + "/dir").c_str()), 0);
  strcpy(addr.sun_path, "socket");
  int bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_EQ(bound, 0) << strerror(errno);
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  close(fd);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.exit_code, ExitCode::kSuccess);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].message().find("socket"), std::string::npos);
  EXPECT_FALSE(r.warnings[0].data_missing());
}

TEST_F(BackupTest, CancelledBeforeCommitWritesNoSnapshot) {
  CancelToken cancel;
  cancel.Cancel();
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, &cancel);
  EXPECT_EQ(r.exit_code, ExitCode::kCancelled);
  auto list = repo_->ListSnapshots("");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(BackupTest, StoreFailureIsUploadPhaseExit12) {
  std::filesystem::permissions(base_ + "/repo/chunks", std::filesystem::perms::none);
  // Root ignores permissions: make the chunk directory a file instead.
  std::filesystem::permissions(base_ + "/repo/chunks", std::filesystem::perms::owner_all);
  std::filesystem::remove_all(base_ + "/repo/chunks");
  Write(base_ + "/repo/chunks", "not a directory");
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  EXPECT_EQ(r.exit_code, ExitCode::kUpload) << r.status;
  auto list = repo_->ListSnapshots("");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

}  // namespace
}  // namespace arca
