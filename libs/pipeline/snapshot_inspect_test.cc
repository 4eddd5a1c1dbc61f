// CatFile (snapshot_cat.h), DiffSnapshots (snapshot_diff.h),
// FindInSnapshots and ListSnapshotEntries (snapshot_find.h) over real
// backups of a temporary tree.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/snapshot_cat.h"
#include "libs/pipeline/snapshot_diff.h"
#include "libs/pipeline/snapshot_find.h"

namespace arca {
namespace {

class SnapshotInspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(base_);
    src_ = base_ + "/src";
    std::filesystem::create_directories(src_ + "/dir");
    Write("small.txt", "hello\n");
    std::mt19937_64 rng(7);
    big_.resize(3 << 20);
    for (char& c : big_) c = static_cast<char>(rng());
    Write("dir/big.bin", big_);
    Write("dir/other.txt", "other\n");
    ASSERT_EQ(symlink("small.txt", (src_ + "/link").c_str()), 0);
    ASSERT_EQ(link((src_ + "/dir/big.bin").c_str(), (src_ + "/hard").c_str()), 0);
    // Sparse: 4 MiB, data at 1 MiB and at the end.
    int fd = open((src_ + "/sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, "abc", 3, 1 << 20), 3);
    ASSERT_EQ(pwrite(fd, "xyz", 3, (4 << 20) - 3), 3);
    close(fd);
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    auto repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(*repo);
  }

  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(src_ + "/" + rel, std::ios::binary | std::ios::trunc) << data;
  }

  std::string Backup() {
    BackupOptions options;
    options.source = src_;
    options.host = "testhost";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options, nullptr);
    EXPECT_EQ(r.exit_code, ExitCode::kSuccess) << r.status;
    return r.manifest.id();
  }

  absl::StatusOr<std::string> Cat(const std::string& snap, const std::string& path) {
    std::string out;
    absl::Status st = CatFile(*repo_, snap, path, [&](absl::string_view d) {
      out.append(d.data(), d.size());
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    return out;
  }

  std::string base_, src_, big_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(SnapshotInspectTest, CatGivesTheBytesOfRegularSparseAndHardlinkedFiles) {
  std::string id = Backup();
  EXPECT_EQ(*Cat(id, "small.txt"), "hello\n");
  EXPECT_EQ(*Cat(id, "/dir/big.bin"), big_);
  EXPECT_EQ(*Cat(id, "hard"), big_);
  std::string sparse(4 << 20, '\0');
  sparse.replace(1 << 20, 3, "abc");
  sparse.replace((4 << 20) - 3, 3, "xyz");
  absl::StatusOr<std::string> got = Cat(id, "sparse");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == sparse);
}

TEST_F(SnapshotInspectTest, CatRefusesMissingPathsDirectoriesAndSymlinks) {
  std::string id = Backup();
  absl::StatusOr<std::string> missing = Cat(id, "dir/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("has no entry 'dir/nope'"), std::string::npos)
      << missing.status();
  absl::StatusOr<std::string> dir = Cat(id, "dir");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(dir.status().message().find("'dir' in snapshot"), std::string::npos) << dir.status();
  EXPECT_NE(dir.status().message().find("is a directory"), std::string::npos) << dir.status();
  absl::StatusOr<std::string> link = Cat(id, "link");
  EXPECT_EQ(link.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(link.status().message().find("symlink to 'small.txt'"), std::string::npos)
      << link.status();
  EXPECT_EQ(Cat("no-such-snapshot", "small.txt").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SnapshotInspectTest, DiffReportsExactlyWhatChanged) {
  std::string first = Backup();
  Write("small.txt", "hello, changed\n");
  chmod((src_ + "/dir/other.txt").c_str(), 0600);
  Write("new.txt", "new\n");
  unlink((src_ + "/sparse").c_str());
  unlink((src_ + "/link").c_str());
  ASSERT_EQ(symlink("dir/other.txt", (src_ + "/link").c_str()), 0);
  std::string second = Backup();

  absl::StatusOr<SnapshotDiff> d = DiffSnapshots(*repo_, first, second);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->from_id, first);
  EXPECT_EQ(d->to_id, second);
  EXPECT_EQ(d->added, std::vector<std::string>{"new.txt"});
  EXPECT_EQ(d->removed, std::vector<std::string>{"sparse"});
  std::map<std::string, std::vector<std::string>> modified;
  for (const ModifiedEntry& m : d->modified) modified[m.path] = m.changes;
  // The root's mtime changed (an entry was added); the link's size and
  // target; other.txt only its mode although it was read again.
  EXPECT_EQ(modified["small.txt"], (std::vector<std::string>{"size", "mtime", "content"}));
  EXPECT_EQ(modified["dir/other.txt"], (std::vector<std::string>{"mode"}));
  EXPECT_EQ(modified["link"], (std::vector<std::string>{"size", "mtime", "symlink_target"}));
  EXPECT_TRUE(modified.contains(""));
  EXPECT_EQ(modified.size(), 4u) << "unexpected modified entries";
  // dir, dir/big.bin, hard.
  EXPECT_EQ(d->unchanged, 3u);

  absl::StatusOr<SnapshotDiff> same = DiffSnapshots(*repo_, second, second);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_TRUE(same->added.empty() && same->removed.empty() && same->modified.empty());
  EXPECT_EQ(DiffSnapshots(*repo_, first, "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SnapshotInspectTest, FindListsMatchesOfEverySnapshotNewestFirst) {
  std::string first = Backup();
  Write("dir/new.txt", "new\n");
  unlink((src_ + "/small.txt").c_str());
  std::string second = Backup();
  ASSERT_NE(first, second);

  auto find = [&](FindOptions options) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> got;
    absl::Status st =
        FindInSnapshots(*repo_, options, [&](const std::string& snap, const v1::Entry& e) {
          got.push_back(absl::StrCat(snap == first    ? "1:"
                                     : snap == second ? "2:"
                                                      : "?:",
                                     e.path()));
          return absl::OkStatus();
        });
    if (!st.ok()) return st;
    return got;
  };
  absl::StatusOr<std::vector<std::string>> txt = find({.patterns = {"*.txt"}});
  ASSERT_TRUE(txt.ok()) << txt.status();
  EXPECT_EQ(*txt, (std::vector<std::string>{"2:dir/new.txt", "2:dir/other.txt", "1:dir/other.txt",
                                            "1:small.txt"}));
  // A directory pattern finds what is below it too; several patterns.
  absl::StatusOr<std::vector<std::string>> dir =
      find({.patterns = {"/dir", "sparse"}, .snapshot = first});
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir,
            (std::vector<std::string>{"1:dir", "1:dir/big.bin", "1:dir/other.txt", "1:sparse"}));
  absl::StatusOr<std::vector<std::string>> none = find({.patterns = {"*.nothing"}});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  absl::StatusOr<std::vector<std::string>> group =
      find({.patterns = {"small.txt"}, .group = "otherhost"});
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_TRUE(group->empty());

  EXPECT_EQ(find({.patterns = {"[x"}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(find({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(find({.patterns = {"*"}, .snapshot = "nope"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SnapshotInspectTest, LsListsADirectoryItsSubtreeOrMatches) {
  std::filesystem::create_directories(src_ + "/dir/sub");
  Write("dir/sub/deep.txt", "deep\n");
  const std::string snap = Backup();
  auto ls = [&](ListOptions options) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> got;
    absl::Status st = ListSnapshotEntries(*repo_, snap, options, [&](const v1::Entry& e) {
      got.push_back(e.path());
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    return got;
  };
  using V = std::vector<std::string>;
  // No PATH: everything, as `arca ls SNAPSHOT` always printed.
  absl::StatusOr<V> all = ls({});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (V{"", "dir", "dir/big.bin", "dir/other.txt", "dir/sub", "dir/sub/deep.txt",
                     "hard", "link", "small.txt", "sparse"}));
  // PATH: itself and its children; --recursive: its subtree.
  EXPECT_EQ(*ls({.path = "dir"}), (V{"dir", "dir/big.bin", "dir/other.txt", "dir/sub"}));
  EXPECT_EQ(*ls({.path = "/dir/", .recursive = true}),
            (V{"dir", "dir/big.bin", "dir/other.txt", "dir/sub", "dir/sub/deep.txt"}));
  EXPECT_EQ(*ls({.path = "/"}), (V{"", "dir", "hard", "link", "small.txt", "sparse"}));
  EXPECT_EQ(*ls({.path = "small.txt"}), (V{"small.txt"}));
  // --include filters (a directory pattern brings what is below it).
  EXPECT_EQ(*ls({.recursive = true, .includes = {"*.txt"}}),
            (V{"dir/other.txt", "dir/sub/deep.txt", "small.txt"}));
  EXPECT_EQ(*ls({.path = "dir", .recursive = true, .includes = {"sub"}}),
            (V{"dir/sub", "dir/sub/deep.txt"}));
  EXPECT_EQ(*ls({.path = "dir", .includes = {"*.txt"}}), (V{"dir/other.txt"}));

  absl::Status missing = ls({.path = "dir/nope"}).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), absl::StrCat("snapshot ", snap, " has no 'dir/nope': see `arca ls ",
                                            snap, "` for its paths"));
  absl::Status dots = ls({.path = "dir/../etc"}).status();
  EXPECT_EQ(dots.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dots.message(),
            "arca ls: path 'dir/../etc' has an empty, '.' or '..' component; give it as `arca "
            "ls` prints it");
  EXPECT_EQ(ls({.includes = {"[x"}}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
