// Metadata change detection (issue 4): a model-based test over ten rounds
// of random changes, the unchanged re-backup that opens no file, and the
// ctime rule.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/restore.h"
#include "libs/pipeline/verify.h"

namespace arca {
namespace {

namespace stdfs = std::filesystem;

class ChangeDetectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::remove_all(base_);
    src_ = base_ + "/src";
    stdfs::create_directories(src_);
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(1);
    auto repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(*repo);
    options_.source = src_;
    options_.host = "testhost";
    options_.level = 1;
  }

  std::string RandomData(size_t n) {
    std::string s(n, '\0');
    // Half random, half text: some chunks compress, none are all-equal.
    for (size_t i = 0; i < n; ++i)
      s[i] = (i / 4096) % 2 ? static_cast<char>(rng_()) : 'a' + rng_() % 26;
    return s;
  }

  void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  }

  size_t RandomSize() {
    switch (rng_() % 10) {
      case 0:
        return 0;
      case 1:
        return 1u << 20 | (rng_() % (3u << 20));  // large: aligned chunks
      default:
        return rng_() % 20000;
    }
  }

  void MakeTree(int files) {
    for (int d = 0; d < 6; ++d) stdfs::create_directories(absl::StrCat(src_, "/d", d, "/sub"));
    for (int i = 0; i < files; ++i) {
      std::string dir = absl::StrCat(src_, "/d", rng_() % 6, (rng_() % 2) ? "/sub" : "");
      Write(absl::StrCat(dir, "/f", i), RandomData(RandomSize()));
    }
  }

  std::vector<std::string> RegularFiles() {
    std::vector<std::string> out;
    for (const auto& e : stdfs::recursive_directory_iterator(src_)) {
      if (e.is_regular_file() && !e.is_symlink()) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Regular files with data (true) or without (false) in the source.
  uint64_t NonEmptyFiles(bool with_data) {
    std::set<ino_t> inodes;  // hardlinks: one file
    for (const std::string& f : RegularFiles()) {
      struct stat st;
      if (lstat(f.c_str(), &st) == 0 && (st.st_size > 0) == with_data) inodes.insert(st.st_ino);
    }
    return inodes.size();
  }

  void SetMtime(const std::string& path, int64_t sec, int64_t nsec) {
    timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
  }

  // One random change to the tree; returns a description.
  std::string RandomChange(int round, int k) {
    std::vector<std::string> files = RegularFiles();
    if (files.empty()) return "none";
    std::string f = files[rng_() % files.size()];
    struct stat st;
    lstat(f.c_str(), &st);
    switch (rng_() % 11) {
      case 0: {  // edit in place, same size
        std::string data = RandomData(st.st_size);
        Write(f, data);
        return "edit same size " + f;
      }
      case 1:
        Write(f, RandomData(RandomSize()));
        return "edit new size " + f;
      case 2: {
        std::ofstream(f, std::ios::binary | std::ios::app) << RandomData(1 + rng_() % 5000);
        return "append " + f;
      }
      case 3:
        truncate(f.c_str(), st.st_size / 2);
        return "truncate " + f;
      case 4:
        stdfs::remove(f);
        return "delete " + f;
      case 5: {
        std::string to = absl::StrCat(src_, "/d", rng_() % 6, "/renamed_", round, "_", k);
        stdfs::rename(f, to);
        return "rename " + f;
      }
      case 6:
        chmod(f.c_str(), (rng_() % 2) ? 0600 : 0755);
        lchown(f.c_str(), 1000 + rng_() % 3, 1000 + rng_() % 3);
        return "chmod/chown " + f;
      case 7:
        stdfs::remove(f);
        stdfs::create_symlink("../some/target", f);
        return "file to symlink " + f;
      case 8:
        stdfs::remove(f);
        stdfs::create_directories(f + "/inner");
        Write(f + "/inner/x", RandomData(100));
        return "file to directory " + f;
      case 9: {
        std::string link = absl::StrCat(f, ".link", round, "_", k);
        stdfs::create_hard_link(f, link);
        return "hardlink " + f;
      }
      default: {  // new content, then an older mtime
        Write(f, RandomData(st.st_size + 1));
        SetMtime(f, 1000000000, 123);
        return "older mtime " + f;
      }
    }
  }

  BackupResult Backup(fs::FileSystem* fs = fs::DefaultFileSystem()) {
    BackupResult r = RunBackup(*repo_, fs, options_, nullptr);
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.exit_code, ExitCode::kSuccess);
    return r;
  }

  std::vector<std::string> RestoreAndCompare(const std::string& id, const std::string& expected) {
    std::string target = base_ + "/restore_" + std::to_string(restores_++);
    RestoreResult r = RunRestore(*repo_, id, RestoreOptions{target, {}}, nullptr);
    EXPECT_TRUE(r.status.ok()) << r.status;
    return testing::CompareTrees(expected, target);
  }

  std::mt19937_64 rng_{42};
  std::string base_, src_;
  std::unique_ptr<Repository> repo_;
  BackupOptions options_;
  int restores_ = 0;
};

TEST_F(ChangeDetectionTest, TenRoundsOfRandomChangesRestoreExactly) {
  MakeTree(300);
  std::vector<std::pair<std::string, std::string>> snapshots;  // id, copy of the tree
  for (int round = 0; round <= 10; ++round) {
    if (round > 0) {
      for (int k = 0; k < 12; ++k) RandomChange(round, k);
    }
    BackupResult r = Backup();
    const v1::BackupStats& s = r.manifest.stats();
    if (round > 0) {
      EXPECT_FALSE(s.parent_snapshot().empty());
      EXPECT_GT(s.files_reused(), 0u) << "round " << round;
      // Empty files are neither read nor reused: they have no data.
      EXPECT_EQ(s.files_reused() + s.files_read() + NonEmptyFiles(false), s.files())
          << "round " << round;
    }
    std::string copy = absl::StrCat(base_, "/expected_", round);
    ASSERT_EQ(system(absl::StrCat("cp -a --sparse=always ", src_, " ", copy).c_str()), 0);
    snapshots.push_back({r.manifest.id(), copy});
  }
  for (const auto& [id, copy] : snapshots) {
    std::vector<std::string> diffs = RestoreAndCompare(id, copy);
    EXPECT_TRUE(diffs.empty()) << id << ":\n" << absl::StrJoin(diffs, "\n");
  }
  VerifyResult v = RunVerify(*repo_, "", nullptr);
  EXPECT_EQ(v.exit_code, ExitCode::kSuccess) << absl::StrJoin(v.problems, "\n");
}

TEST_F(ChangeDetectionTest, UnchangedRebackupOpensNoFileAndStoresNoPayload) {
  MakeTree(200);
  BackupResult first = Backup();
  fs::FaultInjectionFileSystem counting(fs::DefaultFileSystem());
  BackupResult second = Backup(&counting);
  EXPECT_EQ(counting.open_count(), 0u);
  const v1::BackupStats& s = second.manifest.stats();
  EXPECT_EQ(s.parent_snapshot(), first.manifest.id());
  EXPECT_EQ(s.files_read(), 0u);
  EXPECT_EQ(s.files_reused(), first.manifest.stats().files_read());
  EXPECT_EQ(s.files_reused(), NonEmptyFiles(true));
  EXPECT_EQ(s.bytes_reused(), first.manifest.stats().bytes_collected());
  EXPECT_EQ(s.padding_bytes(), 0u);
  EXPECT_EQ(s.chunks_new(), 0u) << "not even a metadata chunk changed";
  EXPECT_TRUE(RestoreAndCompare(second.manifest.id(), src_).empty());

  // --change-detection=data reads every file again (content dedup still applies).
  options_.metadata_change_detection = false;
  fs::FaultInjectionFileSystem counting2(fs::DefaultFileSystem());
  BackupResult data = Backup(&counting2);
  EXPECT_EQ(data.manifest.stats().files_read(), NonEmptyFiles(true));
  EXPECT_EQ(counting2.open_count(), NonEmptyFiles(true));
  // At most the metadata stream is new (directory atimes move when listed).
  EXPECT_LE(data.manifest.stats().bytes_new_raw(), data.manifest.stats().metadata_bytes());
}

TEST_F(ChangeDetectionTest, SameSizeAndMtimeButNewCtimeIsDetectedUnlessIgnored) {
  const std::string f = src_ + "/victim.txt";
  Write(f, "original content\n");
  SetMtime(f, 1700000000, 5);
  // Large enough to sit in chunks of its own (forced boundaries), so it is
  // reused exactly while its neighbour changes.
  Write(src_ + "/other.txt", RandomData(2 << 20));
  BackupResult first = Backup();
  // Same size, same mtime: only ctime moves.
  sleep(0);
  Write(f, "modified content\n");
  SetMtime(f, 1700000000, 5);

  options_.ignore_ctime = true;
  BackupResult ignored = Backup();
  EXPECT_EQ(ignored.manifest.stats().files_read(), 0u)
      << "with --ignore-ctime the change is missed";
  std::string out = base_ + "/ignored";
  ASSERT_TRUE(
      RunRestore(*repo_, ignored.manifest.id(), RestoreOptions{out, {}}, nullptr).status.ok());
  std::ifstream in(out + "/victim.txt");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "original content\n");

  options_.ignore_ctime = false;
  options_.parent = first.manifest.id();
  BackupResult detected = Backup();
  EXPECT_EQ(detected.manifest.stats().files_read(), 1u);
  EXPECT_EQ(detected.manifest.stats().files_reused(), 1u);
  EXPECT_TRUE(RestoreAndCompare(detected.manifest.id(), src_).empty());
}

TEST_F(ChangeDetectionTest, SmallWindowsStillReuseEverythingAndRestoreExactly) {
  options_.change_window_entries = 40;  // many windows over 600 files
  MakeTree(600);
  BackupResult first = Backup();
  fs::FaultInjectionFileSystem counting(fs::DefaultFileSystem());
  BackupResult second = Backup(&counting);
  const v1::BackupStats& s = second.manifest.stats();
  // At most one straddling file per window is read again.
  EXPECT_LE(s.files_read(), 600u / 40 + 1);
  EXPECT_GE(s.files_reused() + 600u / 40 + 1, NonEmptyFiles(true));
  EXPECT_LE(s.padding_bytes() * 50, s.bytes_reused());
  EXPECT_TRUE(RestoreAndCompare(second.manifest.id(), src_).empty());
  for (int k = 0; k < 10; ++k) RandomChange(1, k);
  BackupResult third = Backup();
  EXPECT_TRUE(RestoreAndCompare(third.manifest.id(), src_).empty());
  EXPECT_EQ(RunVerify(*repo_, "", nullptr).exit_code, ExitCode::kSuccess);
}

TEST_F(ChangeDetectionTest, NewXattrOnAnUnchangedFileIsStored) {
  const std::string f = src_ + "/tagged.bin";
  Write(f, RandomData(3 << 20));
  Write(src_ + "/plain.txt", "plain\n");
  Backup();
  ASSERT_EQ(setxattr(f.c_str(), "user.note", "hello", 5, 0), 0) << strerror(errno);
  BackupResult r = Backup();
  // The content did not change, but ctime did: the file is read again and
  // its new xattr stored.
  EXPECT_EQ(r.manifest.stats().files_read(), 1u);
  std::string out = base_ + "/xattr_restore";
  ASSERT_TRUE(RunRestore(*repo_, r.manifest.id(), RestoreOptions{out, {}}, nullptr).status.ok());
  char value[16] = {0};
  EXPECT_EQ(getxattr((out + "/tagged.bin").c_str(), "user.note", value, sizeof(value)), 5);
  EXPECT_STREQ(value, "hello");
  EXPECT_TRUE(RestoreAndCompare(r.manifest.id(), src_).empty());
}

TEST_F(ChangeDetectionTest, OnePercentChangedKeepsPaddingSmall) {
  MakeTree(1500);
  Backup();
  std::vector<std::string> files = RegularFiles();
  for (size_t i = 0; i < files.size() / 100; ++i) {
    const std::string& f = files[rng_() % files.size()];
    std::ofstream(f, std::ios::binary | std::ios::app) << "changed";
  }
  BackupResult r = Backup();
  const v1::BackupStats& s = r.manifest.stats();
  EXPECT_GT(s.bytes_reused(), 0u);
  EXPECT_LE(s.padding_bytes() * 50, s.bytes_reused())
      << "padding " << s.padding_bytes() << " of reused " << s.bytes_reused();
  EXPECT_TRUE(RestoreAndCompare(r.manifest.id(), src_).empty());
}

}  // namespace
}  // namespace arca
