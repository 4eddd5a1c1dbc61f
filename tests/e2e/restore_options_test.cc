// arca restore --overwrite never|if-changed|always and --delete over an
// existing target, and arca ls [PATH] --recursive --include, through the
// real arca binary on the awkward tree.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

class RestoreOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("awkward_src");
    testing::AwkwardTreeOptions opts;
    opts.large_file_bytes = 3 << 20;
    opts.small_files = 40;
    absl::Status made = testing::MakeAwkwardTree(src_, opts);
    ASSERT_TRUE(made.ok()) << made;
    repo_ = NewTempDir("repo") + "/repo";
    RunResult init = RunArca({"init", "--repo", repo_});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
    RunResult backup = RunArca({"backup", src_, "--repo", repo_, "--json"});
    ASSERT_EQ(backup.exit_code, 0) << backup.Describe();
    id_ = JsonStringValue(backup.out, "snapshot");
    ASSERT_FALSE(id_.empty());
  }

  RunResult Restore(const std::string& target, std::vector<std::string> extra) {
    std::vector<std::string> args = {"restore", id_, target, "--repo", repo_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunArca(args);
  }

  std::string src_, repo_, id_;
};

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST_F(RestoreOptionsTest, IfChangedWithDeleteMakesAMessedUpTargetMatchTheSnapshot) {
  const std::string target = NewTempDir("target") + "/tree";
  RunResult first = Restore(target, {});
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  const double entries = JsonNumber(first.out, "entries");
  ASSERT_GT(entries, 100);

  // Mess it up: a changed file, a changed mode, an extra file, an extra
  // subtree, a missing file, a symlink to outside where a directory was.
  WriteFile(target + "/dups/a.txt", "changed content");
  ASSERT_EQ(chmod((target + "/dups/b.txt").c_str(), 0600), 0);
  WriteFile(target + "/extra.txt", "x");
  ASSERT_EQ(mkdir((target + "/small/extra_dir").c_str(), 0755), 0);
  WriteFile(target + "/small/extra_dir/f", "y");
  ASSERT_EQ(unlink((target + "/empty_file").c_str()), 0);
  const std::string outside = NewTempDir("outside");
  WriteFile(outside + "/precious", "keep me");
  ASSERT_EQ(system(("rm -rf '" + target + "/xattrs/dir'").c_str()), 0);
  ASSERT_EQ(symlink(outside.c_str(), (target + "/xattrs/dir").c_str()), 0);

  RunResult again = Restore(target, {"--overwrite", "if-changed", "--delete"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  std::vector<std::string> diffs = testing::CompareTrees(src_, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  EXPECT_EQ(JsonNumber(again.out, "deleted"), 3) << again.out;  // extra.txt, extra_dir, f
  EXPECT_NE(again.out.find("\"deleted_paths\":[\"extra.txt\",\"small/extra_dir\"]"),
            std::string::npos)
      << again.out;
  EXPECT_GT(JsonNumber(again.out, "skipped"), entries - 20) << again.out;
  EXPECT_EQ(ReadFile(outside + "/precious"), "keep me");
  EXPECT_EQ(ListFiles(outside), std::vector<std::string>{outside + "/precious"});

  // Nothing left to do: every entry skipped, nothing written or deleted.
  RunResult idle = Restore(target, {"--overwrite", "if-changed", "--delete"});
  ASSERT_EQ(idle.exit_code, 0) << idle.Describe();
  EXPECT_EQ(JsonNumber(idle.out, "entries"), 0) << idle.out;
  EXPECT_EQ(JsonNumber(idle.out, "bytes"), 0) << idle.out;
  EXPECT_EQ(JsonNumber(idle.out, "deleted"), 0) << idle.out;
  EXPECT_EQ(JsonNumber(idle.out, "skipped"), entries) << idle.out;
}

TEST_F(RestoreOptionsTest, NeverKeepsExistingFilesAndDefaultReplacesThem) {
  const std::string target = NewTempDir("never") + "/tree";
  ASSERT_EQ(Restore(target, {}).exit_code, 0);
  WriteFile(target + "/dups/a.txt", "mine");
  ASSERT_EQ(unlink((target + "/dups/b.txt").c_str()), 0);

  RunResult never = Restore(target, {"--overwrite", "never"});
  ASSERT_EQ(never.exit_code, 0) << never.Describe();
  EXPECT_EQ(ReadFile(target + "/dups/a.txt"), "mine");
  EXPECT_EQ(ReadFile(target + "/dups/b.txt"), ReadFile(src_ + "/dups/b.txt"));
  EXPECT_EQ(JsonNumber(never.out, "entries"), 1) << never.out;  // dups/b.txt
  EXPECT_GT(JsonNumber(never.out, "skipped"), 100) << never.out;

  // The default is today's: every entry replaced.
  RunResult always = Restore(target, {});
  ASSERT_EQ(always.exit_code, 0) << always.Describe();
  EXPECT_EQ(ReadFile(target + "/dups/a.txt"), ReadFile(src_ + "/dups/a.txt"));
  EXPECT_EQ(JsonNumber(always.out, "skipped"), 0) << always.out;
}

TEST_F(RestoreOptionsTest, DeleteWithIncludeOnlyDeletesInsideTheSelection) {
  const std::string target = NewTempDir("scoped") + "/tree";
  ASSERT_EQ(Restore(target, {}).exit_code, 0);
  WriteFile(target + "/dups/extra", "x");
  WriteFile(target + "/top_extra", "x");
  RunResult r = Restore(target, {"--include", "dups", "--delete"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Exists(target + "/dups/extra"));
  EXPECT_TRUE(Exists(target + "/top_extra"));
  EXPECT_NE(r.out.find("\"deleted_paths\":[\"dups/extra\"]"), std::string::npos) << r.out;

  // Text mode lists what was removed.
  WriteFile(target + "/dups/extra2", "x");
  RunResult text = RunArca({"restore", id_, target, "--repo", repo_, "--include", "dups",
                            "--delete", "--overwrite", "if-changed", "--no-progress"});
  ASSERT_EQ(text.exit_code, 0) << text.Describe();
  EXPECT_NE(text.err.find("deleted: dups/extra2\ndeleted 1 entries the snapshot lacks\n"),
            std::string::npos)
      << text.err;
}

TEST_F(RestoreOptionsTest, RefusesBadValuesAndTheRootDirectory) {
  RunResult bad = Restore(NewTempDir("bad"), {"--overwrite", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  EXPECT_NE(bad.err.find("invalid --overwrite 'sometimes': use never, if-changed or always"),
            std::string::npos)
      << bad.err;
  RunResult root = RunArca({"restore", id_, "/", "--repo", repo_, "--delete"});
  EXPECT_EQ(root.exit_code, 2) << root.Describe();
  EXPECT_NE(root.err.find("refusing --delete with restore target /: it is the root directory"),
            std::string::npos)
      << root.err;
}

TEST_F(RestoreOptionsTest, LsListsADirectoryRecursivelyWithPatterns) {
  RunResult top = RunArca({"ls", id_, "dups", "--repo", repo_});
  ASSERT_EQ(top.exit_code, 0) << top.Describe();
  EXPECT_NE(top.out.find(" dups/a.txt\n"), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("small/"), std::string::npos) << top.out;

  RunResult children = RunArca({"ls", id_, "deep", "--repo", repo_});
  ASSERT_EQ(children.exit_code, 0) << children.Describe();
  EXPECT_NE(children.out.find(" deep/l00\n"), std::string::npos) << children.out;
  EXPECT_EQ(children.out.find("deep/l00/l01"), std::string::npos) << children.out;

  RunResult deep = RunArca({"ls", id_, "deep", "--recursive", "--repo", repo_});
  ASSERT_EQ(deep.exit_code, 0) << deep.Describe();
  EXPECT_NE(deep.out.find("/l59/bottom.txt\n"), std::string::npos) << deep.out;

  RunResult txt = RunArca(
      {"ls", id_, "--recursive", "--include", "bottom.txt", "--repo", repo_, "--json"});
  ASSERT_EQ(txt.exit_code, 0) << txt.Describe();
  EXPECT_NE(txt.out.find("/l59/bottom.txt\""), std::string::npos) << txt.out;
  EXPECT_EQ(txt.out.find("dups"), std::string::npos) << txt.out;

  RunResult missing = RunArca({"ls", id_, "no/such/dir", "--repo", repo_});
  EXPECT_EQ(missing.exit_code, 2) << missing.Describe();
  EXPECT_NE(missing.err.find("has no 'no/such/dir'"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace arca::e2e
