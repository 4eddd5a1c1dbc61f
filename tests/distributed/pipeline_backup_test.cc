// Backup → restore → compare through five kinds of real processes (two
// uploader replicas over one repository, two compressors, a collector, a
// chunker), called like the orchestrator would: Chunker.RunBackup and
// Chunker.RunRestore. Then `arca verify`, an unchanged re-backup that reuses
// every file (change detection in distributed mode), and its restore.
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

// The number after "key": in a JSON document (protobuf prints 64-bit
// integers as strings); -1 when absent.
double JsonNumber(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string::npos) return -1;
  pos += needle.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == '"')) ++pos;
  return std::strtod(json.c_str() + pos, nullptr);
}

// Regular files with data, split by link count (hardlinked files are always
// read, never reused: docs/change-detection.md).
// A hardlink group counts once (its other names are hardlink entries).
void CountFiles(const std::string& root, uint64_t* single, uint64_t* linked) {
  *single = 0;
  std::set<std::pair<dev_t, ino_t>> inodes;
  for (const auto& e : stdfs::recursive_directory_iterator(
           root, stdfs::directory_options::skip_permission_denied)) {
    struct stat st;
    if (lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
    if (st.st_nlink > 1) {
      inodes.insert({st.st_dev, st.st_ino});
    } else {
      ++*single;
    }
  }
  *linked = inodes.size();
}

TEST(PipelineBackup, AwkwardTreeRoundTripVerifyAndUnchangedRebackup) {
  const std::string src = NewTempDir("awkward");
  std::vector<std::string> notes;
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 16u << 20;
  tree.notes = &notes;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;
  for (const std::string& n : notes) std::cerr << "awkward tree note: " << n << "\n";

  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 2, .compressors = 2});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;

  // --- first backup --------------------------------------------------------------
  JobOutcome first = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(first.status.ok()) << first.Describe() << c.chunker().Stderr();
  ASSERT_TRUE(first.result.has_value()) << first.Describe();
  EXPECT_EQ(first.result->exit_code(), 0) << first.Describe();
  const v1::BackupStats& s1 = first.result->stats();
  EXPECT_EQ(s1.files_skipped(), 0u) << first.Describe();
  EXPECT_GT(s1.sparse_hole_bytes(), (1u << 30) - (1u << 20)) << first.Describe();
  EXPECT_GT(s1.chunks_new(), 10u) << first.Describe();
  EXPECT_GT(s1.bytes_deduplicated(), 16u << 20) << "duplicate.bin is deduplicated\n"
                                                << first.Describe();
  EXPECT_TRUE(s1.parent_snapshot().empty());
  bool saw_progress = false;
  for (const v1::StageEvent& e : first.events) saw_progress |= e.has_progress();
  EXPECT_TRUE(saw_progress);
  const std::string id1 = first.result->snapshot();
  ASSERT_FALSE(id1.empty());

  // --- restore and compare ----------------------------------------------------------
  const std::string target = NewTempDir("restored") + "/tree";
  JobOutcome restore = c.RunRestore(c.RestorePlan(id1, target));
  ASSERT_TRUE(restore.status.ok()) << restore.Describe() << c.collector().Stderr();
  ASSERT_TRUE(restore.result.has_value());
  EXPECT_EQ(restore.result->snapshot(), id1);
  EXPECT_GT(restore.result->entries(), 300u);
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  struct stat st;
  ASSERT_EQ(lstat((target + "/" + testing::kAwkwardSparseFile).c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the sparse file stays sparse";

  RunResult verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  // --- unchanged re-backup: files reused without being read ------------------------
  JobOutcome second = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(second.status.ok()) << second.Describe() << c.chunker().Stderr();
  ASSERT_TRUE(second.result.has_value());
  const v1::BackupStats& s2 = second.result->stats();
  uint64_t single = 0, linked = 0;
  CountFiles(src, &single, &linked);
  EXPECT_EQ(s2.parent_snapshot(), id1) << second.Describe();
  // Hardlinked files are always read; single-link files are reused, except
  // the few next to them whose parent chunk would carry too much padding
  // (the 1/64 rule of docs/change-detection.md).
  EXPECT_EQ(s2.files_reused() + s2.files_read(), single + linked) << second.Describe();
  EXPECT_GE(s2.files_read(), linked) << second.Describe();
  EXPECT_GE(s2.files_reused(), single - 8) << second.Describe();
  EXPECT_EQ(s2.files_new(), 0u) << second.Describe();
  EXPECT_GT(s2.bytes_reused(), 16u << 20) << second.Describe();

  // The same decisions as the embedded pipeline on the same tree.
  const std::string embedded_repo = NewTempDir("embedded") + "/repo";
  ASSERT_EQ(RunProgram({ArcaBinary(), "init", "--repo", embedded_repo}).exit_code, 0);
  RunResult e1 = RunProgram(
      {ArcaBinary(), "backup", src, "--repo", embedded_repo, "--host", "testhost", "--json"});
  ASSERT_EQ(e1.exit_code, 0) << e1.Describe();
  RunResult e2 = RunProgram(
      {ArcaBinary(), "backup", src, "--repo", embedded_repo, "--host", "testhost", "--json"});
  ASSERT_EQ(e2.exit_code, 0) << e2.Describe();
  EXPECT_EQ(JsonNumber(e2.out, "files_reused"), s2.files_reused()) << e2.out << second.Describe();
  EXPECT_EQ(JsonNumber(e2.out, "files_read"), s2.files_read()) << e2.out << second.Describe();
  EXPECT_EQ(JsonNumber(e2.out, "bytes_reused"), s2.bytes_reused()) << e2.out;
  EXPECT_EQ(JsonNumber(e2.out, "padding_bytes"), s2.padding_bytes()) << e2.out;
  // At most the metadata stream's chunks are new (times of directories).
  EXPECT_LE(s2.chunks_new(), 2u) << second.Describe();
  const std::string id2 = second.result->snapshot();
  ASSERT_NE(id2, id1);

  const std::string target2 = NewTempDir("restored2") + "/tree";
  JobOutcome restore2 = c.RunRestore(c.RestorePlan(id2, target2));
  ASSERT_TRUE(restore2.status.ok()) << restore2.Describe();
  diffs = testing::CompareTrees(src, target2);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  // --- one file rewritten in place (same size): detected, read, restored -------
  std::string changed;
  for (const auto& e : stdfs::directory_iterator(src + "/small/d0")) {
    if (e.is_regular_file() && e.file_size() > 0) {
      changed = e.path();
      break;
    }
  }
  ASSERT_FALSE(changed.empty());
  const uint64_t size = stdfs::file_size(changed);
  {
    std::FILE* f = std::fopen(changed.c_str(), "r+");
    ASSERT_NE(f, nullptr);
    std::fputc('#', f);  // same size, new mtime and ctime
    std::fclose(f);
  }
  ASSERT_EQ(stdfs::file_size(changed), size);
  JobOutcome third = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(third.status.ok()) << third.Describe();
  const v1::BackupStats& s3 = third.result->stats();
  EXPECT_EQ(s3.parent_snapshot(), id2);
  EXPECT_GE(s3.files_read(), linked + 1) << third.Describe();
  EXPECT_LT(s3.files_reused(), s2.files_reused()) << third.Describe();
  const std::string target3 = NewTempDir("restored3") + "/tree";
  JobOutcome restore3 = c.RunRestore(c.RestorePlan(third.result->snapshot(), target3));
  ASSERT_TRUE(restore3.status.ok()) << restore3.Describe();
  diffs = testing::CompareTrees(src, target3);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  // --- an explicit parent, and change detection turned off -----------------------
  v1::BackupPlan explicit_parent = c.BackupPlan(src);
  explicit_parent.set_parent(id1);
  JobOutcome fourth = c.RunBackup(explicit_parent);
  ASSERT_TRUE(fourth.status.ok()) << fourth.Describe();
  EXPECT_EQ(fourth.result->stats().parent_snapshot(), id1);
  EXPECT_GT(fourth.result->stats().files_reused(), 0u);
  v1::BackupPlan data_mode = c.BackupPlan(src);
  data_mode.set_metadata_change_detection(false);
  JobOutcome fifth = c.RunBackup(data_mode);
  ASSERT_TRUE(fifth.status.ok()) << fifth.Describe();
  EXPECT_TRUE(fifth.result->stats().parent_snapshot().empty());
  EXPECT_EQ(fifth.result->stats().files_reused(), 0u);
  EXPECT_EQ(fifth.result->stats().files_read(), single + linked);
  EXPECT_LE(fifth.result->stats().chunks_new(), 2u) << "content dedup still applies";

  verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_TRUE(c.CheckAllServing().ok());
}

TEST(PipelineBackup, RestoreWithIncludesRehomesHardlinksLikeTheEmbeddedRestore) {
  const std::string src = NewTempDir("inc");
  stdfs::create_directories(src + "/keep");
  stdfs::create_directories(src + "/drop");
  {
    std::FILE* f = std::fopen((src + "/drop/first").c_str(), "w");
    std::fputs("linked content", f);
    std::fclose(f);
  }
  ASSERT_EQ(link((src + "/drop/first").c_str(), (src + "/keep/second").c_str()), 0);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  JobOutcome backup = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(backup.status.ok()) << backup.Describe();
  const std::string target = NewTempDir("inc_target") + "/t";
  v1::RestorePlan plan = c.RestorePlan("latest", target);
  plan.add_includes("keep");
  JobOutcome restore = c.RunRestore(plan);
  ASSERT_TRUE(restore.status.ok()) << restore.Describe() << c.collector().Stderr();
  struct stat st;
  EXPECT_NE(lstat((target + "/drop").c_str(), &st), 0) << "drop/ was not included";
  ASSERT_EQ(lstat((target + "/keep/second").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 14);
}

}  // namespace
}  // namespace arca::distributed
