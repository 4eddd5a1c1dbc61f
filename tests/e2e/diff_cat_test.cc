// arca diff, arca cat SNAPSHOT PATH and arca find through the real binary, on
// the awkward tree: diff reports exactly the changes made between two
// backups, cat gives the source bytes (sparse and hardlinked files included),
// find lists the matches of both snapshots.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

std::string Backup(const std::string& repo, const std::string& src) {
  RunResult r = RunArca({"backup", src, "--repo", repo, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  std::string id = JsonStringValue(r.out, "snapshot");
  EXPECT_FALSE(id.empty()) << r.Describe();
  return id;
}

// `arca cat` of `path` into a file (a 1 GiB sparse file is too much for a
// pipe into memory), compared with `expected` by cmp.
void ExpectCatEquals(const std::string& repo, const std::string& id, const std::string& path,
                     const std::string& expected, const std::string& tmp) {
  const std::string out = tmp + "/cat.out";
  RunResult cat =
      RunProgram({"sh", "-c", absl::StrCat("\"$0\" cat \"$1\" \"$2\" --repo \"$3\" > \"$4\""),
                  ArcaBinary(), id, path, repo, out});
  ASSERT_EQ(cat.exit_code, 0) << path << ": " << cat.Describe();
  RunResult cmp = RunProgram({"cmp", expected, out});
  EXPECT_EQ(cmp.exit_code, 0) << path << ": " << cmp.Describe();
}

TEST(DiffCat, AwkwardTreeChangesAndFileContents) {
  const std::string src = NewTempDir("awkward");
  ASSERT_TRUE(testing::MakeAwkwardTree(src).ok());
  const std::string tmp = NewTempDir("tmp");
  const std::string keep = tmp + "/a.txt.before";
  const std::string repo = NewTempDir("repo") + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  const std::string first = Backup(repo, src);
  ASSERT_EQ(RunProgram({"cp", "-a", src + "/dups/a.txt", keep}).exit_code, 0);

  WriteFile(src + "/dups/a.txt", "changed content\n");              // content
  ASSERT_EQ(chmod((src + "/dups/b.txt").c_str(), 0600), 0);         // mode
  ASSERT_EQ(chown((src + "/xattrs/file").c_str(), 4321, 4322), 0);  // owner
  WriteFile(src + "/added.txt", "new\n");                           // new file
  ASSERT_EQ(unlink((src + "/large/duplicate.bin").c_str()), 0);     // removed
  ASSERT_EQ(unlink((src + "/links/dangling").c_str()), 0);          // symlink target
  ASSERT_EQ(symlink("elsewhere", (src + "/links/dangling").c_str()), 0);
  const std::string second = Backup(repo, src);

  RunResult json = RunArca({"diff", first, second, "--repo", repo, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.Describe();
  const std::string& j = json.out;
  EXPECT_NE(j.find("\"added\":[\"added.txt\"]"), std::string::npos) << j;
  EXPECT_NE(j.find("\"removed\":[\"large/duplicate.bin\"]"), std::string::npos) << j;
  for (const char* m : {
           R"({"path":"","changes":["mtime"]})",
           R"({"path":"dups/a.txt","changes":["size","mtime","content"]})",
           R"({"path":"dups/b.txt","changes":["mode"]})",
           R"({"path":"large","changes":["mtime"]})",
           R"({"path":"links","changes":["mtime"]})",
           R"({"path":"links/dangling","changes":["size","mtime","symlink_target"]})",
           R"({"path":"xattrs/file","changes":["uid","gid"]})",
       }) {
    EXPECT_NE(j.find(m), std::string::npos) << m << " not in " << j;
  }
  // Exactly those seven.
  size_t n = 0;
  for (size_t at = j.find("{\"path\":"); at != std::string::npos;
       at = j.find("{\"path\":", at + 1)) {
    ++n;
  }
  EXPECT_EQ(n, 7u) << j;
  EXPECT_GT(JsonNumber(j, "unchanged"), 100) << j;

  RunResult text = RunArca({"diff", first, second, "--repo", repo});
  ASSERT_EQ(text.exit_code, 0) << text.Describe();
  EXPECT_NE(text.out.find("+ added.txt\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("- large/duplicate.bin\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("M dups/b.txt (mode)\n"), std::string::npos) << text.out;

  // No differences is still exit 0.
  RunResult same = RunArca({"diff", second, "latest", "--repo", repo, "--json"});
  ASSERT_EQ(same.exit_code, 0) << same.Describe();
  EXPECT_NE(same.out.find("\"added\":[],\"removed\":[],\"modified\":[]"), std::string::npos)
      << same.out;

  // cat: regular, sparse, a hardlink's later name, and the old content.
  ExpectCatEquals(repo, second, "dups/a.txt", src + "/dups/a.txt", tmp);
  ExpectCatEquals(repo, first, "dups/a.txt", keep, tmp);
  ExpectCatEquals(repo, second, testing::kAwkwardLargeFile, src + "/" + testing::kAwkwardLargeFile,
                  tmp);
  ExpectCatEquals(repo, second, "hardlinks/c/d/third", src + "/hardlinks/c/d/third", tmp);
  ExpectCatEquals(repo, second, testing::kAwkwardSparseFile,
                  src + "/" + testing::kAwkwardSparseFile, tmp);
  ExpectCatEquals(repo, first, "large/duplicate.bin", src + "/" + testing::kAwkwardLargeFile, tmp);

  // Not in the snapshot, a directory, a symlink: exit 2 with a message.
  RunResult missing = RunArca({"cat", second, "large/duplicate.bin", "--repo", repo});
  EXPECT_EQ(missing.exit_code, 2) << missing.Describe();
  EXPECT_NE(missing.err.find("has no entry 'large/duplicate.bin'"), std::string::npos)
      << missing.Describe();
  RunResult dir = RunArca({"cat", second, "dups", "--repo", repo});
  EXPECT_EQ(dir.exit_code, 2) << dir.Describe();
  EXPECT_NE(dir.err.find("is a directory"), std::string::npos) << dir.Describe();
  RunResult link = RunArca({"cat", second, "links/relative", "--repo", repo});
  EXPECT_EQ(link.exit_code, 2) << link.Describe();
  EXPECT_NE(link.err.find("is a symlink to '../empty_file'"), std::string::npos) << link.Describe();
  EXPECT_EQ(RunArca({"diff", first, "nope", "--repo", repo}).exit_code, 2);

  // find: the newest snapshot first, each in archive order.
  RunResult found = RunArca({"find", "/dups/*.txt", "added.txt", "--repo", repo});
  ASSERT_EQ(found.exit_code, 0) << found.Describe();
  std::vector<std::string> lines;
  for (size_t at = 0; at < found.out.size();) {
    size_t nl = found.out.find('\n', at);
    lines.push_back(found.out.substr(at, nl - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 5u) << found.out;
  auto expect_line = [&](const std::string& line, const std::string& snap, const std::string& size,
                         const std::string& path) {
    EXPECT_EQ(line.rfind(snap + "  file ", 0), 0u) << line;
    EXPECT_NE(line.find(absl::StrCat(" ", size, "  ")), std::string::npos) << line;
    EXPECT_TRUE(line.ends_with(absl::StrCat("  ", path))) << line;
  };
  expect_line(lines[0], second, "4", "added.txt");
  expect_line(lines[1], second, "16", "dups/a.txt");
  expect_line(lines[2], second, "28", "dups/b.txt");
  expect_line(lines[3], first, "28", "dups/a.txt");
  expect_line(lines[4], first, "28", "dups/b.txt");

  RunResult fjson = RunArca({"find", "dups/a.txt", "--repo", repo, "--json"});
  ASSERT_EQ(fjson.exit_code, 0) << fjson.Describe();
  const std::string sj =
      absl::StrCat(R"({"snapshot":")", second, R"(","path":"dups/a.txt","type":"file","size":16,)");
  const std::string fj =
      absl::StrCat(R"({"snapshot":")", first, R"(","path":"dups/a.txt","type":"file","size":28,)");
  EXPECT_EQ(fjson.out.rfind("{\"matches\":[", 0), 0u) << fjson.out;
  ASSERT_NE(fjson.out.find(sj), std::string::npos) << fjson.out;
  ASSERT_NE(fjson.out.find(fj), std::string::npos) << fjson.out;
  EXPECT_LT(fjson.out.find(sj), fjson.out.find(fj)) << fjson.out;
  EXPECT_NE(fjson.out.find("\"mtime_unix_ns\":"), std::string::npos) << fjson.out;

  // One snapshot; no match is still exit 0; an unknown snapshot exits 2.
  RunResult one = RunArca({"find", "a.txt", "--snapshot", first, "--repo", repo});
  ASSERT_EQ(one.exit_code, 0) << one.Describe();
  EXPECT_EQ(one.out.find(second), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(first), std::string::npos) << one.out;
  RunResult none = RunArca({"find", "*.nothing", "--repo", repo, "--json"});
  EXPECT_EQ(none.exit_code, 0) << none.Describe();
  EXPECT_EQ(none.out, "{\"matches\":[]}\n");
  EXPECT_EQ(RunArca({"find", "*", "--snapshot", "nope", "--repo", repo}).exit_code, 2);
}

}  // namespace
}  // namespace arca::e2e
