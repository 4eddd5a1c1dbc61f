// arca restore --overwrite and --delete in remote mode: the CLI's flags
// travel in StartRestoreRequest → RestorePlan → RestoreTarget to the
// collector's TreeWriter, and the counts come back in the job's result.
// Real processes on loopback (uploader, compressor, collector, chunker,
// orchestrator); the awkward tree.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

// The number after "key": in the job's "result" (protobuf prints 64-bit
// integers as strings); -1 when absent.
double ResultNumber(const std::string& json, const std::string& key) {
  const size_t result = json.find("\"result\":");
  if (result == std::string::npos) return -1;
  const std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle, result);
  if (pos == std::string::npos) return -1;
  pos += needle.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == '"')) ++pos;
  return std::strtod(json.c_str() + pos, nullptr);
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST(RemoteRestoreOptions, OverwriteAndDeleteTravelToTheCollector) {
  const std::string src = NewTempDir("awkward");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 2u << 20;
  tree.small_files = 30;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 1);
  ASSERT_NE(orch, nullptr);

  RunResult backup = Remote(*orch, {"backup", src});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe() << c.chunker().Stderr();
  const std::string id(absl::StripAsciiWhitespace(backup.out));

  const std::string target = NewTempDir("restored") + "/tree";
  RunResult first = Remote(*orch, {"restore", id, target});
  ASSERT_EQ(first.exit_code, 0) << first.Describe() << c.collector().Stderr();

  // never: a changed file stays, a missing one comes back.
  WriteFile(target + "/dups/a.txt", "mine");
  ASSERT_EQ(unlink((target + "/dups/b.txt").c_str()), 0);
  RunResult never = Remote(*orch, {"restore", id, target, "--overwrite", "never", "--json"});
  ASSERT_EQ(never.exit_code, 0) << never.Describe() << c.collector().Stderr();
  EXPECT_EQ(ReadFile(target + "/dups/a.txt"), "mine");
  EXPECT_EQ(ReadFile(target + "/dups/b.txt"), ReadFile(src + "/dups/b.txt"));
  EXPECT_EQ(ResultNumber(never.out, "entries"), 1) << never.out;
  EXPECT_GT(ResultNumber(never.out, "entries_skipped"), 100) << never.out;

  // if-changed + delete: the target matches the snapshot again.
  WriteFile(target + "/extra.txt", "x");
  ASSERT_EQ(mkdir((target + "/small/extra_dir").c_str(), 0755), 0);
  WriteFile(target + "/small/extra_dir/f", "y");
  RunResult sync = Remote(*orch, {"restore", id, target, "--overwrite", "if-changed", "--delete",
                                  "--no-progress"});
  ASSERT_EQ(sync.exit_code, 0) << sync.Describe() << c.collector().Stderr();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  EXPECT_FALSE(Exists(target + "/extra.txt"));
  EXPECT_NE(sync.err.find("deleted: extra.txt\ndeleted: small/extra_dir\n"
                          "deleted 3 entries the snapshot lacks\n"),
            std::string::npos)
      << sync.err;
  EXPECT_NE(sync.err.find("kept "), std::string::npos) << sync.err;

  // Nothing left to change.
  RunResult idle =
      Remote(*orch, {"restore", id, target, "--overwrite", "if-changed", "--delete", "--json"});
  ASSERT_EQ(idle.exit_code, 0) << idle.Describe();
  EXPECT_EQ(ResultNumber(idle.out, "entries"), 0) << idle.out;
  EXPECT_EQ(ResultNumber(idle.out, "entries_deleted"), 0) << idle.out;

  // Refused before any job: a bad word (CLI) and --delete into "/".
  RunResult bad = Remote(*orch, {"restore", id, target, "--overwrite", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  RunResult root = Remote(*orch, {"restore", id, "/", "--delete"});
  EXPECT_EQ(root.exit_code, 2) << root.Describe();
  EXPECT_NE(root.err.find("delete_extraneous with target \"/\""), std::string::npos) << root.err;
}

}  // namespace
}  // namespace arca::distributed
