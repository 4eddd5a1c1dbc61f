// Progress: the counters are exact under concurrent updates, and a real
// backup / restore / verify ends with them equal to the run's statistics.
#include "libs/pipeline/progress.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/restore.h"
#include "libs/pipeline/source_estimate.h"
#include "libs/pipeline/verify.h"

namespace arca {
namespace {

TEST(ProgressTest, StartsEmpty) {
  Progress p;
  ProgressSample s = p.Read();
  EXPECT_EQ(s.phase, v1::PHASE_UNSPECIFIED);
  EXPECT_EQ(s.files_done, 0u);
  EXPECT_EQ(s.bytes_done, 0u);
  EXPECT_EQ(s.bytes_total, 0u);
  EXPECT_FALSE(s.done);
}

TEST(ProgressTest, ConcurrentUpdatesAreExact) {
  Progress p;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        p.AddFiles();
        p.AddBytes(3);
        p.AddChunks();
      }
      p.SubtractBytes(7);
    });
  }
  for (std::thread& t : threads) t.join();
  p.SetPhase(v1::PHASE_COMMIT);
  p.MarkDone();
  ProgressSample s = p.Read();
  EXPECT_EQ(s.files_done, 400000u);
  EXPECT_EQ(s.chunks_done, 400000u);
  EXPECT_EQ(s.bytes_done, 1200000u - 28u);
  EXPECT_EQ(s.phase, v1::PHASE_COMMIT);
  EXPECT_TRUE(s.done);
}

class ProgressRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(base_);
    src_ = base_ + "/src";
    std::filesystem::create_directories(src_ + "/dir/sub");
    Write(src_ + "/small.txt", "small\n");
    Write(src_ + "/empty", "");
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    Write(src_ + "/dir/big.bin", big);
    Write(src_ + "/dir/sub/other.txt", std::string(100000, 'x'));
    Write(src_ + "/dir/sub/fail.bin", big.substr(0, 2 << 20));
    ASSERT_EQ(symlink("small.txt", (src_ + "/link").c_str()), 0);
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

  static void ExpectMatchesStats(const ProgressSample& s, const BackupResult& r) {
    const v1::BackupStats& st = r.manifest.stats();
    EXPECT_TRUE(s.done);
    EXPECT_EQ(s.phase, v1::PHASE_COMMIT);
    EXPECT_EQ(s.files_done, st.files());
    EXPECT_EQ(s.bytes_done, st.bytes_collected());
    EXPECT_EQ(s.entries, st.files() + st.directories() + st.other_entries());
    EXPECT_EQ(s.warnings, r.warnings.size());
  }

  std::string base_, src_;
  std::unique_ptr<Repository> repo_;
  BackupOptions options_;
};

TEST_F(ProgressRunTest, BackupEndsAtTheManifestStatistics) {
  Progress progress;
  options_.progress = &progress;
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ProgressSample s = progress.Read();
  ExpectMatchesStats(s, r);
  EXPECT_EQ(r.manifest.stats().files(), 5u);
  EXPECT_EQ(s.bytes_done, 6u + (3u << 20) + 100000u + (2u << 20));
  // The space check's estimate is the total; here it is exact.
  absl::StatusOr<uint64_t> estimate =
      EstimateSourceBytes(fs::DefaultFileSystem(), src_, nullptr, false);
  ASSERT_TRUE(estimate.ok());
  EXPECT_EQ(s.bytes_total, *estimate);
  EXPECT_EQ(s.bytes_total, s.bytes_done);

  // An incremental backup: reused files count as done, with their bytes.
  Write(src_ + "/new.txt", "new file\n");
  Progress second;
  options_.progress = &second;
  BackupResult r2 = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  ASSERT_TRUE(r2.status.ok()) << r2.status;
  ASSERT_GT(r2.manifest.stats().files_reused(), 0u);
  ExpectMatchesStats(second.Read(), r2);
  EXPECT_EQ(second.Read().bytes_total, r.manifest.stats().bytes_collected());
}

TEST_F(ProgressRunTest, FailedReadsTakeBackTheirBytesAndCountAsWarnings) {
  fs::FaultInjectionFileSystem faults(fs::DefaultFileSystem());
  // Fails after 1 MiB was read and counted.
  faults.FailRead(src_ + "/dir/sub/fail.bin", absl::DataLossError("injected I/O error"), 1 << 20);
  Progress progress;
  options_.progress = &progress;
  BackupResult r = RunBackup(*repo_, &faults, options_, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.exit_code, ExitCode::kPartial);
  ProgressSample s = progress.Read();
  ExpectMatchesStats(s, r);
  EXPECT_EQ(s.warnings, 1u);
  EXPECT_EQ(s.files_done, 4u);
}

TEST_F(ProgressRunTest, FailedBackupIsMarkedDone) {
  Progress progress;
  options_.progress = &progress;
  options_.source = base_ + "/missing";
  BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  EXPECT_EQ(r.exit_code, ExitCode::kCollection);
  EXPECT_TRUE(progress.Read().done);
}

TEST_F(ProgressRunTest, RestoreAndVerifyEndAtTheirResults) {
  BackupResult b = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
  ASSERT_TRUE(b.status.ok()) << b.status;

  Progress restore_progress;
  RestoreOptions ro;
  ro.target = base_ + "/target";
  ro.progress = &restore_progress;
  RestoreResult r = RunRestore(*repo_, b.manifest.id(), ro, nullptr);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ProgressSample rs = restore_progress.Read();
  EXPECT_TRUE(rs.done);
  EXPECT_EQ(rs.phase, v1::PHASE_RESTORE);
  EXPECT_EQ(rs.bytes_done, r.bytes);
  EXPECT_EQ(rs.bytes_done, b.manifest.stats().bytes_collected());
  EXPECT_EQ(rs.bytes_total, rs.bytes_done);
  EXPECT_EQ(rs.files_done, b.manifest.stats().files());
  EXPECT_EQ(rs.files_total, rs.files_done);
  EXPECT_EQ(rs.entries, r.entries);

  // With includes the total is unknown.
  Progress partial;
  ro.target = base_ + "/target2";
  ro.includes = {"dir/sub"};
  ro.progress = &partial;
  RestoreResult r2 = RunRestore(*repo_, b.manifest.id(), ro, nullptr);
  ASSERT_TRUE(r2.status.ok()) << r2.status;
  EXPECT_EQ(partial.Read().bytes_total, 0u);
  EXPECT_EQ(partial.Read().bytes_done, r2.bytes);

  Progress verify_progress;
  VerifyResult v = RunVerify(*repo_, "", nullptr, 2, &verify_progress);
  ASSERT_EQ(v.exit_code, ExitCode::kSuccess) << v.status;
  ProgressSample vs = verify_progress.Read();
  EXPECT_TRUE(vs.done);
  EXPECT_EQ(vs.phase, v1::PHASE_VERIFICATION);
  EXPECT_EQ(vs.chunks_done, v.chunks);
  EXPECT_EQ(vs.chunks_total, v.chunks);
  EXPECT_EQ(vs.bytes_done, v.bytes);
  EXPECT_EQ(vs.bytes_total, v.bytes);
  EXPECT_EQ(vs.entries, v.entries);
  EXPECT_EQ(vs.warnings, 0u);
}

}  // namespace
}  // namespace arca
