// Restore past damage in distributed mode (issue 12): the chunker gives a
// file whose chunk is corrupt up with a WriteTree `abandon` item, the
// collector keeps its intact prefix and writes every other file; the damaged
// files are warnings with data_missing and the restore ends with DATA_LOSS
// (exit 8), through the chunker and through the orchestrator's CLI.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/testing/repo_damage.h"
#include "tests/distributed/pipeline_cluster.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Flips a bit in the middle of the largest chunk file: data of one of the
// big files (and perhaps of a neighbour, when the chunk straddles two).
// Its path in *victim (when not null).
void CorruptLargestChunk(const std::string& repo, std::string* victim_out = nullptr) {
  std::string victim;
  uintmax_t size = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo + "/chunks")) {
    if (e.is_regular_file() && e.file_size() > size) {
      size = e.file_size();
      victim = e.path().string();
    }
  }
  ASSERT_FALSE(victim.empty());
  std::string data = ReadAll(victim);
  data[data.size() / 2] ^= 0x01;
  std::ofstream(victim, std::ios::binary | std::ios::trunc) << data;
  if (victim_out != nullptr) *victim_out = victim;
}

// The chunk file of the first metadata chunk of the (only) snapshot in
// `repo` (docs/formats/index.md: chunk 0's digest is at bytes 40..72 of
// metadata.aidx).
using ::arca::testing::FirstMetadataChunkFile;
using ::arca::testing::FlipMiddleBit;

class RestoreDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PipelineCluster>> c =
        PipelineCluster::Start(NewTempDir("repo") + "/r");
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = *std::move(c);
    src_ = NewTempDir("src");
    std::mt19937_64 rng(11);
    for (const char* name : {"a.bin", "b.bin", "c.bin"}) {
      std::string data(4 << 20, '\0');
      for (char& ch : data) ch = static_cast<char>(rng());
      std::ofstream(src_ + "/" + name, std::ios::binary) << data;
      files_.push_back(name);
    }
    JobOutcome backup = cluster_->RunBackup(cluster_->BackupPlan(src_));
    ASSERT_TRUE(backup.status.ok()) << backup.Describe();
    ASSERT_TRUE(backup.result.has_value());
    snapshot_ = backup.result->snapshot();
    CorruptLargestChunk(cluster_->repo(), &victim_);
  }

  // The damaged files are cut short (their intact prefix), every other one
  // is byte-identical.
  void ExpectRestored(const std::string& target, const std::vector<std::string>& damaged) {
    ASSERT_GE(damaged.size(), 1u);
    ASSERT_LE(damaged.size(), 2u);  // a chunk may straddle two files
    for (const std::string& name : files_) {
      SCOPED_TRACE(name);
      const std::string want = ReadAll(src_ + "/" + name);
      ASSERT_TRUE(stdfs::exists(target + "/" + name));
      const std::string got = ReadAll(target + "/" + name);
      if (std::find(damaged.begin(), damaged.end(), name) != damaged.end()) {
        EXPECT_LT(got.size(), want.size());
        EXPECT_EQ(got, want.substr(0, got.size()));
      } else {
        EXPECT_EQ(got, want);
      }
    }
  }

  // Every file restored byte for byte.
  void ExpectIdentical(const std::string& target) {
    for (const std::string& name : files_) {
      SCOPED_TRACE(name);
      EXPECT_EQ(ReadAll(target + "/" + name), ReadAll(src_ + "/" + name));
    }
  }

  std::unique_ptr<PipelineCluster> cluster_;
  std::string src_;
  std::string snapshot_;  // the first backup's
  std::string victim_;    // the corrupt chunk file
  std::vector<std::string> files_;
};

TEST_F(RestoreDamageTest, TheChunkerRestoresPastADamagedFileAndEndsWithDataLoss) {
  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = cluster_->RunRestore(cluster_->RestorePlan("latest", target));
  EXPECT_EQ(restore.status.code(), absl::StatusCode::kDataLoss) << restore.Describe();
  EXPECT_EQ(ExitCodeOf(restore.status), ExitCode::kVerification) << restore.Describe();
  EXPECT_NE(restore.status.message().find("could not be restored (the rest was)"),
            std::string::npos)
      << restore.Describe();
  std::vector<std::string> damaged;
  for (const v1::Warning& w : restore.warnings) {
    EXPECT_TRUE(w.data_missing()) << w.ShortDebugString();
    EXPECT_NE(w.message().find("not restored: its data is damaged"), std::string::npos)
        << w.ShortDebugString();
    damaged.push_back(w.path());
  }
  ExpectRestored(target, damaged);
  EXPECT_TRUE(cluster_->CheckAllServing().ok());
}

TEST_F(RestoreDamageTest, TheCliRestoresPastADamagedFileAndExits8) {
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(*cluster_, 1, 1);
  ASSERT_NE(orch, nullptr);
  const std::string target = NewTempDir("restored") + "/t";
  RunResult r = Remote(*orch, {"restore", "latest", target});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.err.find("could not be restored (the rest was)"), std::string::npos) << r.err;
  // Each damaged file is shown as a warning line ("warning: PATH: not restored ...").
  const std::string shown = r.out + r.err;
  std::vector<std::string> damaged;
  for (const std::string& name : files_) {
    if (shown.find(name + ": not restored") != std::string::npos) damaged.push_back(name);
  }
  ExpectRestored(target, damaged);
}

// Self-healing in distributed mode, as tests/e2e/damage_test in embedded
// mode: verify moves the corrupt chunk aside, and the next backup with the
// default change detection (the unchanged files would reuse it) reads the
// files that relied on it again and stores the chunk again, instead of
// failing with "chunk ... of the parent snapshot is missing".
TEST_F(RestoreDamageTest, AfterVerifyMovedAChunkAsideTheNextBackupHealsTheRepository) {
  RunResult verify = cluster_->Verify();
  EXPECT_EQ(verify.exit_code, 8) << verify.Describe();
  ASSERT_FALSE(stdfs::exists(victim_));
  ASSERT_TRUE(stdfs::exists(victim_ + ".bad"));

  JobOutcome again = cluster_->RunBackup(cluster_->BackupPlan(src_));
  ASSERT_TRUE(again.status.ok()) << again.Describe() << cluster_->chunker().Stderr();
  EXPECT_EQ(ExitCodeOf(again.status), ExitCode::kSuccess);
  ASSERT_TRUE(again.result.has_value());
  const v1::BackupStats& stats = again.result->stats();
  EXPECT_FALSE(stats.parent_snapshot().empty()) << again.Describe();
  EXPECT_GE(stats.files_read(), 1u) << again.Describe();    // the file(s) of the bad chunk
  EXPECT_GE(stats.files_reused(), 1u) << again.Describe();  // and not the others
  EXPECT_TRUE(again.warnings.empty()) << again.Describe();
  EXPECT_TRUE(stdfs::exists(victim_)) << "the chunk is stored again";

  RunResult healed = cluster_->Verify();
  EXPECT_EQ(healed.exit_code, 0) << healed.Describe();
  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = cluster_->RunRestore(cluster_->RestorePlan("latest", target));
  ASSERT_TRUE(restore.status.ok()) << restore.Describe();
  ExpectIdentical(target);
}

// A damaged chunk in the parent's metadata stream, as in tests/e2e/
// damage_test: the backup that chose the parent itself warns (naming the
// parent and the chunk) and reads every file; an explicit parent still fails.
TEST_F(RestoreDamageTest, ADamagedParentMetadataChunkIsAWarningUnlessTheParentIsExplicit) {
  FlipMiddleBit(victim_);  // the payload chunk SetUp damaged is whole again
  const std::string meta = FirstMetadataChunkFile(cluster_->repo());
  ASSERT_FALSE(meta.empty());
  ASSERT_TRUE(stdfs::exists(meta)) << meta;
  const std::string digest = stdfs::path(meta).filename().string();
  FlipMiddleBit(meta);

  v1::BackupPlan explicit_parent = cluster_->BackupPlan(src_);
  explicit_parent.set_parent(snapshot_);
  JobOutcome pinned = cluster_->RunBackup(explicit_parent);
  EXPECT_EQ(pinned.status.code(), absl::StatusCode::kDataLoss) << pinned.Describe();
  EXPECT_EQ(ExitCodeOf(pinned.status), ExitCode::kArchive) << pinned.Describe();
  EXPECT_NE(pinned.status.message().find("parent snapshot " + snapshot_), std::string::npos)
      << pinned.Describe();
  EXPECT_NE(pinned.status.message().find(digest), std::string::npos) << pinned.Describe();

  JobOutcome again = cluster_->RunBackup(cluster_->BackupPlan(src_));
  ASSERT_TRUE(again.status.ok()) << again.Describe() << cluster_->collector().Stderr();
  ASSERT_TRUE(again.result.has_value());
  ASSERT_EQ(again.warnings.size(), 1u) << again.Describe();
  const v1::Warning& w = again.warnings[0];
  EXPECT_FALSE(w.data_missing()) << w.ShortDebugString();
  EXPECT_NE(w.message().find("parent snapshot " + snapshot_), std::string::npos)
      << w.ShortDebugString();
  EXPECT_NE(w.message().find(digest), std::string::npos) << w.ShortDebugString();
  EXPECT_NE(w.message().find("every file from this one on is read"), std::string::npos)
      << w.ShortDebugString();
  EXPECT_EQ(again.result->stats().files_reused(), 0u) << again.Describe();
  EXPECT_EQ(again.result->stats().files_read(), files_.size()) << again.Describe();

  // Unlike a local read (RepositoryChunkSource), the collector's read
  // through Uploader.GetChunks does not move the corrupt chunk aside, and
  // this backup wrote the same metadata (an unchanged tree): it deduplicated
  // against the chunk still there, as found. A verify moves it aside ...
  EXPECT_TRUE(stdfs::exists(meta));
  RunResult verify = cluster_->Verify();
  EXPECT_EQ(verify.exit_code, 8) << verify.Describe();
  EXPECT_TRUE(stdfs::exists(meta + ".bad"));
  // ... and the next backup (whose parent now misses that chunk) warns
  // again, stores it again, and the repository is whole.
  JobOutcome healing = cluster_->RunBackup(cluster_->BackupPlan(src_));
  ASSERT_TRUE(healing.status.ok()) << healing.Describe();
  EXPECT_EQ(healing.warnings.size(), 1u) << healing.Describe();
  EXPECT_TRUE(stdfs::exists(meta));
  RunResult healed = cluster_->Verify();
  EXPECT_EQ(healed.exit_code, 0) << healed.Describe();
  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = cluster_->RunRestore(cluster_->RestorePlan("latest", target));
  ASSERT_TRUE(restore.status.ok()) << restore.Describe();
  ExpectIdentical(target);
}

}  // namespace
}  // namespace arca::distributed
