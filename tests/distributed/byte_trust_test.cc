// No service trusts another's bytes (issue 10, part 5), with real
// processes: the real chunker, collector and uploader(s) and, as the
// attacker, tests/distributed/lying_compressor serving the Compressor API.
//   - a compressor that names a blob after other bytes, or answers a
//     frame-valid blob of other content: the backup fails with DATA_LOSS,
//     PHASE_COMPRESSION (exit 11) and stores nothing (no snapshot, no chunk);
//   - a decompressor that returns other bytes: the restore fails with
//     DATA_LOSS, PHASE_VERIFICATION (exit 8).
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/hash/digest.h"
#include "tests/distributed/pipeline_cluster.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

// A few files of random (incompressible) and text bytes.
std::string MakeTree(const std::string& name) {
  const std::string root = NewTempDir(name);
  std::mt19937 rng(7);
  for (int i = 0; i < 6; ++i) {
    std::string data(50000 + i * 40000, '\0');
    for (char& c : data) c = static_cast<char>(i % 2 ? rng() : 'a' + rng() % 8);
    std::ofstream(absl::StrCat(root, "/f", i), std::ios::binary) << data;
  }
  return root;
}

std::unique_ptr<PipelineCluster> StartLying(const std::string& lie,
                                            std::vector<std::string> chunker_args = {}) {
  ClusterOptions options;
  options.compressors = 1;
  options.compressor_binary = "tests/distributed/lying_compressor";
  options.compressor_args = {"--lie=" + lie};
  options.chunker_args = std::move(chunker_args);
  // The uploader runs with its default flags (--verify-blobs=full).
  absl::StatusOr<std::unique_ptr<PipelineCluster>> c =
      PipelineCluster::Start(NewTempDir("repo") + "/r", options);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

void ExpectFailedCompressionAndNothingStored(PipelineCluster& c, const JobOutcome& out) {
  EXPECT_EQ(out.status.code(), absl::StatusCode::kDataLoss) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_COMPRESSION) << out.Describe();
  EXPECT_EQ(ExitCodeOf(out.status), ExitCode::kCompression) << out.Describe();
  EXPECT_NE(out.status.message().find("compressor " + c.compressor(0).address()), std::string::npos)
      << out.Describe();
  EXPECT_NE(out.status.message().find("check or replace it"), std::string::npos) << out.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_EQ(ChunkFiles(c.repo()), 0) << "a blob of the lying compressor was stored";
  EXPECT_TRUE(c.CheckAllServing().ok());
}

TEST(ByteTrust, CompressorNamingBlobsAfterOtherBytesFailsTheBackupWithExit11) {
  std::unique_ptr<PipelineCluster> c = StartLying("wrong-digest");
  ASSERT_NE(c, nullptr);
  JobOutcome out = c->RunBackup(c->BackupPlan(MakeTree("src")));
  ExpectFailedCompressionAndNothingStored(*c, out);
  EXPECT_NE(out.status.message().find("the compressor's answer did not match"), std::string::npos)
      << out.Describe();
  EXPECT_NE(out.status.message().find("SHA-256 computed by the chunker"), std::string::npos)
      << out.Describe();
}

TEST(ByteTrust, CompressorNamingBlobsAfterOtherBytesFailsHashFirstBackupsToo) {
  std::unique_ptr<PipelineCluster> c = StartLying("wrong-digest", {"--hash-first"});
  ASSERT_NE(c, nullptr);
  JobOutcome out = c->RunBackup(c->BackupPlan(MakeTree("src")));
  ExpectFailedCompressionAndNothingStored(*c, out);
  EXPECT_NE(out.status.message().find("the compressor's answer did not match"), std::string::npos)
      << out.Describe();
}

TEST(ByteTrust, CompressorAnsweringGarbageBlobsFailsTheBackupWithExit11) {
  std::unique_ptr<PipelineCluster> c = StartLying("garbage-blob");
  ASSERT_NE(c, nullptr);
  JobOutcome out = c->RunBackup(c->BackupPlan(MakeTree("src")));
  ExpectFailedCompressionAndNothingStored(*c, out);
  EXPECT_NE(
      out.status.message().find("uploader " + c->uploader(0).address() +
                                " refused a blob made by compressor " + c->compressor(0).address()),
      std::string::npos)
      << out.Describe();
  EXPECT_NE(out.status.message().find("the blob holds other data than its name says"),
            std::string::npos)
      << out.Describe();
}

TEST(ByteTrust, LyingDecompressorFailsTheRestoreWithExit8) {
  // Its Compress is honest: the backup works and verifies.
  std::unique_ptr<PipelineCluster> c = StartLying("lying-decompressor");
  ASSERT_NE(c, nullptr);
  const std::string src = MakeTree("src");
  JobOutcome backup = c->RunBackup(c->BackupPlan(src));
  ASSERT_TRUE(backup.status.ok()) << backup.Describe();
  RunResult verify = c->Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = c->RunRestore(c->RestorePlan("latest", target));
  EXPECT_EQ(restore.status.code(), absl::StatusCode::kDataLoss) << restore.Describe();
  EXPECT_EQ(PhaseOf(restore.status), v1::PHASE_VERIFICATION) << restore.Describe();
  EXPECT_EQ(ExitCodeOf(restore.status), ExitCode::kVerification) << restore.Describe();
  EXPECT_NE(restore.status.message().find("the compressor's Decompress answer did not match"),
            std::string::npos)
      << restore.Describe();
  // No file holds the forged bytes: each file is either absent or cut short.
  if (stdfs::exists(target)) {
    for (const auto& e : stdfs::recursive_directory_iterator(target)) {
      if (!e.is_regular_file() || e.file_size() == 0) continue;
      std::ifstream in(e.path(), std::ios::binary);
      const char first = static_cast<char>(in.get());
      std::ifstream orig(src + "/" + e.path().filename().string(), std::ios::binary);
      EXPECT_EQ(first, static_cast<char>(orig.get())) << e.path();
    }
  }
}

// What a user sees through the orchestrator and the CLI: `arca backup`
// exits 11 and stores nothing; `arca restore` through a lying decompressor
// exits 8.
TEST(ByteTrust, TheCliExits11ForALyingCompressorAnd8ForALyingDecompressor) {
  std::unique_ptr<PipelineCluster> liar = StartLying("garbage-blob");
  ASSERT_NE(liar, nullptr);
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(*liar, 1, 1);
  ASSERT_NE(orch, nullptr);
  const std::string src = MakeTree("src");
  RunResult backup = Remote(*orch, {"backup", src});
  EXPECT_EQ(backup.exit_code, 11) << backup.Describe();
  EXPECT_NE(backup.err.find("failed in phase compression"), std::string::npos) << backup.err;
  EXPECT_NE(backup.err.find("refused a blob made by compressor"), std::string::npos) << backup.err;
  EXPECT_EQ(VisibleSnapshots(liar->repo()), 0);
  EXPECT_EQ(ChunkFiles(liar->repo()), 0);

  std::unique_ptr<PipelineCluster> decompressor = StartLying("lying-decompressor");
  ASSERT_NE(decompressor, nullptr);
  std::unique_ptr<ServiceProcess> orch2 = StartOrchestrator(*decompressor, 1, 1);
  ASSERT_NE(orch2, nullptr);
  RunResult stored = Remote(*orch2, {"backup", src});
  ASSERT_EQ(stored.exit_code, 0) << stored.Describe();
  RunResult restore = Remote(*orch2, {"restore", "latest", NewTempDir("restored") + "/t"});
  EXPECT_EQ(restore.exit_code, 8) << restore.Describe();
  EXPECT_NE(restore.err.find("failed in phase verification"), std::string::npos) << restore.err;
  EXPECT_NE(restore.err.find("the compressor's Decompress answer did not match"), std::string::npos)
      << restore.err;
}

}  // namespace
}  // namespace arca::distributed
