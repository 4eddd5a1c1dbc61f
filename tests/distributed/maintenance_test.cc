// Forget and gc as jobs of the orchestrator (issue 12), through the real
// services and the remote CLI: three backups of a changing tree, a dry-run
// forget that removes nothing, `forget --keep-last 1 --prune` that removes two
// snapshots and the chunks only they referenced, a gc job, and then the
// remaining snapshot restores identically and verifies. While a backup job
// runs, its writer lock (Uploader.HoldWrite) is in REPO/locks; bad requests
// are refused before a job exists. Labels of the backups reach the
// manifests and `snapshots`, and select what `forget --label` considers.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

void WriteRandom(const std::string& path, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(data.data(), data.size());
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The labels of the three backups below (prod, prod, dev) in the manifests
// on disk and in `snapshots`, the --label filters of snapshots and forget,
// and invalid labels as usage errors.
void ExpectLabels(const ServiceProcess& orch, const std::string& repo) {
  int prod = 0, dev = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo + "/snapshots")) {
    if (e.path().filename() != "manifest.json") continue;
    std::ifstream in(e.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::regex labels(R"re("labels"\s*:\s*\{\s*"env"\s*:\s*"(prod|dev)"\s*\})re");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, labels)) << e.path() << ":\n" << text;
    (m[1] == "prod" ? prod : dev)++;
  }
  EXPECT_EQ(prod, 2);
  EXPECT_EQ(dev, 1);

  RunResult all = Remote(orch, {"snapshots", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.Describe();
  EXPECT_EQ(Count(all.out, R"("labels":{"env":"prod"})"), 2) << all.out;
  EXPECT_EQ(Count(all.out, R"("labels":{"env":"dev"})"), 1) << all.out;
  RunResult table = Remote(orch, {"snapshots"});
  ASSERT_EQ(table.exit_code, 0) << table.Describe();
  EXPECT_NE(table.out.find("LABELS"), std::string::npos) << table.out;
  EXPECT_EQ(Count(table.out, " env=prod\n"), 2) << table.out;
  RunResult dev_only = Remote(orch, {"snapshots", "--json", "--label", "env=dev"});
  ASSERT_EQ(dev_only.exit_code, 0) << dev_only.Describe();
  EXPECT_EQ(Count(dev_only.out, "\"id\""), 1) << dev_only.out;
  EXPECT_EQ(Count(dev_only.out, R"("labels":{"env":"dev"})"), 1) << dev_only.out;

  // The policy among env=prod only: one of the two goes, dev is kept.
  RunResult dry = Remote(orch, {"forget", "--keep-last", "1", "--label", "env=prod", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.err.find("would remove 1 of 3"), std::string::npos) << dry.Describe();
  EXPECT_NE(dry.err.find("among snapshots labelled env=prod"), std::string::npos) << dry.Describe();
  EXPECT_EQ(Count(dry.out, "label mismatch"), 1) << dry.Describe();

  // Invalid labels: usage errors (exit 2), no job, no snapshot.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"backup", "/nonexistent", "--label", "bad key=x"},
                                             {"backup", "/nonexistent", "--label", "env=-x"},
                                             {"snapshots", "--label", "env"},
                                             {"forget", "--keep-last", "1", "--label", "-k=v"}}) {
    RunResult r = Remote(orch, args);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_NE(r.err.find("--label"), std::string::npos) << r.Describe();
  }
  EXPECT_EQ(VisibleSnapshots(repo), 3);
}

TEST(Maintenance, ForgetPruneAndGcJobsThroughTheOrchestrator) {
  const std::string src = NewTempDir("src");
  WriteRandom(src + "/stable.bin", 3u << 20, 1);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 2, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 2, 1);
  ASSERT_NE(orch, nullptr);

  // Three backups; each has its own 2 MiB of data. Labels env=prod, prod,
  // dev: through StartBackupRequest, the plan, the chunker's job and the
  // uploader's CommitSnapshot into the manifest.
  for (uint32_t round = 0; round < 3; ++round) {
    WriteRandom(src + "/changing.bin", 2u << 20, 100 + round);
    RunResult backup =
        Remote(*orch, {"backup", src, "--label", round < 2 ? "env=prod" : "env=dev"});
    ASSERT_EQ(backup.exit_code, 0) << backup.Describe();
  }
  ASSERT_EQ(VisibleSnapshots(c.repo()), 3);
  ExpectLabels(*orch, c.repo());
  EXPECT_TRUE(!stdfs::exists(c.repo() + "/locks") || stdfs::is_empty(c.repo() + "/locks"))
      << "every backup job released its writer lock";
  const int chunks_before = ChunkFiles(c.repo());

  // Refused before a job exists: no rule, a bad duration, prune with dry-run.
  RunResult empty = Remote(*orch, {"forget"});
  EXPECT_EQ(empty.exit_code, 2) << empty.Describe();
  EXPECT_NE(empty.err.find("policy"), std::string::npos) << empty.Describe();
  RunResult bad = Remote(*orch, {"forget", "--keep-within", "3x"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  RunResult both = Remote(*orch, {"forget", "--keep-last", "1", "--dry-run", "--prune"});
  EXPECT_EQ(both.exit_code, 2) << both.Describe();

  // A dry run decides but removes nothing.
  RunResult dry = Remote(*orch, {"forget", "--keep-last", "1", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.Describe();
  EXPECT_NE(dry.err.find("would remove 2 of 3"), std::string::npos) << dry.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 3);

  // Forget with prune: two snapshots go, then the chunks only they used
  // (a slack of one second: nothing else writes; the chunks are older).
  absl::SleepFor(absl::Milliseconds(2500));
  RunResult forget =
      Remote(*orch, {"forget", "--keep-last", "1", "--prune", "--clock-slack-seconds", "1"});
  ASSERT_EQ(forget.exit_code, 0) << forget.Describe();
  EXPECT_NE(forget.err.find("removed 2 of 3"), std::string::npos) << forget.Describe();
  EXPECT_NE(forget.err.find("gc removed"), std::string::npos) << forget.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
  EXPECT_LT(ChunkFiles(c.repo()), chunks_before) << forget.Describe();

  // A gc job on its own has nothing left to remove.
  RunResult gc = Remote(*orch, {"gc", "--clock-slack-seconds", "1"});
  ASSERT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_NE(gc.err.find("gc removed 0 chunk(s)"), std::string::npos) << gc.Describe();
  RunResult bad_gc = Remote(*orch, {"gc", "--stale-lock-minutes", "1"});
  EXPECT_EQ(bad_gc.exit_code, 2) << bad_gc.Describe();

  // The jobs are listed with their types.
  RunResult jobs = Remote(*orch, {"jobs"});
  EXPECT_NE(jobs.out.find("forget"), std::string::npos) << jobs.Describe();
  EXPECT_NE(jobs.out.find("gc"), std::string::npos) << jobs.Describe();

  // What is left restores identically and verifies.
  const std::string target = NewTempDir("restored") + "/tree";
  RunResult restore = Remote(*orch, {"restore", "latest", target});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << diffs.front();
  RunResult verify = Remote(*orch, {"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

}  // namespace
}  // namespace arca::distributed
