// Backup → restore → compare, through the real arca binary.
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

std::string InitRepo() {
  std::string repo = NewTempDir("repo") + "/repo";
  RunResult r = RunArca({"init", "--repo", repo});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return repo;
}

std::string Backup(const std::string& repo, const std::string& src, RunResult* out = nullptr) {
  RunResult r = RunArca({"backup", src, "--repo", repo, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  if (out) *out = r;
  std::string id = JsonStringValue(r.out, "snapshot");
  EXPECT_FALSE(id.empty()) << r.Describe();
  return id;
}

TEST(RoundTrip, AwkwardTreeRestoresIdenticalInEveryAttribute) {
  std::string src = NewTempDir("awkward");
  std::vector<std::string> notes;
  testing::AwkwardTreeOptions opts;
  opts.notes = &notes;
  absl::Status made = testing::MakeAwkwardTree(src, opts);
  ASSERT_TRUE(made.ok()) << made;
  for (const std::string& n : notes) std::cerr << "awkward tree note: " << n << "\n";

  std::string repo = InitRepo();
  RunResult backup;
  std::string id = Backup(repo, src, &backup);
  // Every file was read; the 1 GiB sparse file contributed only its data.
  EXPECT_EQ(JsonNumber(backup.out, "files_skipped"), 0) << backup.out;
  EXPECT_GT(JsonNumber(backup.out, "sparse_hole_bytes"), (1 << 30) - (1 << 20)) << backup.out;
  EXPECT_LT(JsonNumber(backup.out, "bytes_collected"), 400 << 20) << backup.out;

  std::string target = NewTempDir("restored") + "/tree";
  RunResult restore = RunArca({"restore", id, target, "--repo", repo});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  // The restored sparse file is still sparse.
  struct stat st;
  ASSERT_EQ(lstat((target + "/" + testing::kAwkwardSparseFile).c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), testing::kAwkwardSparseSize);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);

  RunResult verify = RunArca({"verify", "--repo", repo});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  // `latest` names the same snapshot; ls lists the deep file.
  RunResult ls = RunArca({"ls", "latest", "--repo", repo});
  ASSERT_EQ(ls.exit_code, 0) << ls.Describe();
  EXPECT_NE(ls.out.find("deep/l00/l01"), std::string::npos);
}

TEST(RoundTrip, RealTreeUsrInclude) {
  std::string repo = InitRepo();
  std::string id = Backup(repo, "/usr/include");
  std::string target = NewTempDir("usr_include");
  RunResult restore = RunArca({"restore", id, target, "--repo", repo});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  std::vector<std::string> diffs = testing::CompareTrees("/usr/include", target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  RunResult verify = RunArca({"verify", id, "--repo", repo});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

TEST(RoundTrip, IncludeRestoresOnlyMatchingSubtrees) {
  std::string src = NewTempDir("inc");
  ASSERT_EQ(mkdir((src + "/outer").c_str(), 0750), 0);
  ASSERT_EQ(mkdir((src + "/outer/keep").c_str(), 0755), 0);
  WriteFile(src + "/outer/keep/deep.txt", "d");
  WriteFile(src + "/outer/other.txt", "o");
  ASSERT_EQ(mkdir((src + "/keep").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((src + "/drop").c_str(), 0755), 0);
  WriteFile(src + "/keep/a.txt", "a");
  WriteFile(src + "/drop/b.txt", "b");
  WriteFile(src + "/top.conf", "c");
  std::string repo = InitRepo();
  std::string id = Backup(repo, src);
  std::string target = NewTempDir("inc_target");
  RunResult r =
      RunArca({"restore", id, target, "--repo", repo, "--include", "keep", "--include", "*.conf"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(ReadFile(target + "/keep/a.txt"), "a");
  EXPECT_EQ(ReadFile(target + "/top.conf"), "c");
  struct stat st;
  EXPECT_NE(lstat((target + "/drop/b.txt").c_str(), &st), 0);
  // An included subtree below an excluded directory: the ancestor gets its
  // stored mode, its other children are not restored.
  EXPECT_EQ(ReadFile(target + "/outer/keep/deep.txt"), "d");
  ASSERT_EQ(lstat((target + "/outer").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_NE(lstat((target + "/outer/other.txt").c_str(), &st), 0);
}

}  // namespace
}  // namespace arca::e2e
