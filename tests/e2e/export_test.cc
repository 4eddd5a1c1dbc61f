// arca export: the awkward tree as tar, tar.zst and tar.xz, checked by the
// real tools (tar -t, zstd -t, xz -t) and extracted by GNU tar as root, then
// compared with the source attribute by attribute.
//
// Nothing is relaxed: symlink mtimes are compared too (GNU tar sets them to
// the ns), directory mtimes are set by GNU tar after their contents (delayed
// set_stat), sparse files come back sparse (GNU sparse 1.0), ACLs and xattrs
// come back with --acls / --xattrs. Not compared by CompareTrees at all:
// atime, ctime.
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

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    src_ = new std::string(NewTempDir("awkward"));
    absl::Status made = testing::MakeAwkwardTree(*src_);
    ASSERT_TRUE(made.ok()) << made;
    repo_ = new std::string(NewTempDir("repo") + "/repo");
    RunResult r = RunArca({"init", "--repo", *repo_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    r = RunArca({"backup", *src_, "--repo", *repo_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    id_ = new std::string(JsonStringValue(r.out, "snapshot"));
  }

  // GNU tar extracts `archive` into a new directory; returns it.
  static std::string Extract(const std::string& archive, const std::string& name) {
    std::string dir = NewTempDir(name) + "/tree";
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0);
    RunResult r = RunProgram({"tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
                              "-xpf", archive, "-C", dir});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return dir;
  }

  static void ExpectSameAsSource(const std::string& dir) {
    testing::CompareOptions opts;
    opts.symlink_mtime = true;
    std::vector<std::string> diffs = testing::CompareTrees(*src_, dir, opts);
    EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
    struct stat st;
    ASSERT_EQ(lstat((dir + "/" + testing::kAwkwardSparseFile).c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), testing::kAwkwardSparseSize);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);
  }

  static std::string* src_;
  static std::string* repo_;
  static std::string* id_;
};
std::string* ExportTest::src_ = nullptr;
std::string* ExportTest::repo_ = nullptr;
std::string* ExportTest::id_ = nullptr;

TEST_F(ExportTest, PlainTarRestoresIdentically) {
  std::string archive = NewTempDir("tar") + "/a.tar";
  RunResult r = RunArca({"export", *id_, "--repo", *repo_, "--format", "tar", "-o", archive});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  RunResult t = RunProgram({"tar", "-tf", archive});
  ASSERT_EQ(t.exit_code, 0) << t.Describe();
  EXPECT_NE(t.out.find(testing::kAwkwardSparseFile), std::string::npos) << t.out;
  // The 1 GiB sparse file is stored as its data, not its holes.
  struct stat st;
  ASSERT_EQ(stat(archive.c_str(), &st), 0);
  EXPECT_LT(st.st_size, 400 << 20);
  ExpectSameAsSource(Extract(archive, "x_tar"));
}

TEST_F(ExportTest, ZstdArchiveIsValidAndRestores) {
  std::string archive = NewTempDir("zst") + "/a.tar.zst";
  RunResult r = RunArca({"export", *id_, "--repo", *repo_, "--format", "tar.zst", "-o", archive});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  RunResult z = RunProgram({"zstd", "-t", archive});
  EXPECT_EQ(z.exit_code, 0) << z.Describe();
  RunResult t = RunProgram({"tar", "--zstd", "-tf", archive});
  EXPECT_EQ(t.exit_code, 0) << t.Describe();
  ExpectSameAsSource(Extract(archive, "x_zst"));
}

TEST_F(ExportTest, XzArchiveIsValidAndRestores) {
  std::string archive = NewTempDir("xz") + "/a.tar.xz";
  RunResult r = RunArca({"export", *id_, "--repo", *repo_, "--format", "tar.xz", "-o", archive});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  RunResult x = RunProgram({"xz", "-t", archive});
  EXPECT_EQ(x.exit_code, 0) << x.Describe();
  RunResult t = RunProgram({"tar", "-tJf", archive});
  EXPECT_EQ(t.exit_code, 0) << t.Describe();
  ExpectSameAsSource(Extract(archive, "x_xz"));
}

TEST_F(ExportTest, StdoutAndInclude) {
  RunResult r = RunArca(
      {"export", *id_, "--repo", *repo_, "--format", "tar", "--include", "xattrs", "-o", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string archive = NewTempDir("stdout") + "/a.tar";
  WriteFile(archive, r.out);
  RunResult t = RunProgram({"tar", "-tf", archive});
  ASSERT_EQ(t.exit_code, 0) << t.Describe();
  EXPECT_NE(t.out.find("xattrs/file"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("xattrs/dir/"), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("sparse"), std::string::npos) << t.out;
  std::string dir = Extract(archive, "x_stdout");
  testing::CompareOptions opts;
  opts.compare_root_metadata = true;
  std::vector<std::string> diffs = testing::CompareTrees(*src_ + "/xattrs", dir + "/xattrs", opts);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
}

TEST_F(ExportTest, UsageErrors) {
  EXPECT_EQ(RunArca({"export", *id_, "--repo", *repo_}).exit_code, 2);
  EXPECT_EQ(RunArca({"export", *id_, "--repo", *repo_, "--format", "zip"}).exit_code, 2);
  std::string out = NewTempDir("bad") + "/a.tar";
  EXPECT_EQ(RunArca({"export", "nosuch", "--repo", *repo_, "--format", "tar", "-o", out}).exit_code,
            2);
  struct stat st;
  EXPECT_NE(stat(out.c_str(), &st), 0) << "a failed export leaves no file";
}

}  // namespace
}  // namespace arca::e2e
