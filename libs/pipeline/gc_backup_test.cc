// RunGc (libs/store/gc.h) over repositories made by real backups: after a
// snapshot is forgotten (its directory renamed to ".forget-*", as `arca
// forget` does) gc removes exactly what no remaining snapshot needs, and
// every remaining snapshot verifies and restores; chunks a backup found
// present are protected by the mtime refresh even when no snapshot
// references them any more; a gc running in a loop beside a backup loop
// (threads of one process, 1 s of clock slack) never breaks a snapshot.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/restore.h"
#include "libs/pipeline/verify.h"
#include "libs/store/gc.h"

namespace arca {
namespace {

namespace sfs = std::filesystem;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class GcBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    sfs::remove_all(base_);
    src_ = base_ + "/src";
    sfs::create_directories(src_);
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
    options_.workers = 2;
  }

  void Write(const std::string& name, const std::string& data) {
    std::ofstream(src_ + "/" + name, std::ios::binary | std::ios::trunc) << data;
  }

  std::string Backup() {
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options_, nullptr);
    EXPECT_EQ(r.exit_code, ExitCode::kSuccess) << r.status;
    return r.manifest.id();
  }

  // What `arca forget` leaves behind until it (or gc) deletes it.
  void Forget(const std::string& id) {
    const std::string dir = base_ + "/repo/snapshots/" + id;
    const sfs::path p(dir);
    sfs::rename(p, p.parent_path() / (".forget-" + p.filename().string()));
  }

  void ExpectVerifiesAndRestores(const std::string& id) {
    VerifyResult v = RunVerify(*repo_, id, nullptr);
    EXPECT_EQ(v.exit_code, ExitCode::kSuccess) << id << ": " << v.status;
    for (const std::string& p : v.problems) ADD_FAILURE() << id << ": " << p;
    const std::string target = base_ + "/restore-" + std::to_string(restores_++);
    RestoreOptions ro;
    ro.target = target;
    RestoreResult r = RunRestore(*repo_, id, ro, nullptr);
    EXPECT_EQ(r.exit_code, ExitCode::kSuccess) << id << ": " << r.status;
  }

  void SetAllChunkMtimes(int64_t ns) {
    for (const auto& e : sfs::recursive_directory_iterator(base_ + "/repo/chunks")) {
      if (!e.is_regular_file()) continue;
      struct timespec ts[2];
      ts[0].tv_sec = ts[1].tv_sec = ns / 1000000000;
      ts[0].tv_nsec = ts[1].tv_nsec = 0;
      ASSERT_EQ(::utimensat(AT_FDCWD, e.path().c_str(), ts, 0), 0);
    }
  }

  std::string base_, src_;
  std::unique_ptr<Repository> repo_;
  BackupOptions options_;
  int restores_ = 0;
};

TEST_F(GcBackupTest, AfterForgetGcRemovesOnlyWhatNoSnapshotNeeds) {
  Write("kept.bin", Random(3 << 20, 1));
  Write("dropped.bin", Random(2 << 20, 2));
  const std::string first = Backup();
  sfs::remove(src_ + "/dropped.bin");
  Write("added.bin", Random(1 << 20, 3));
  const std::string second = Backup();  // kept.bin's chunks reused from the parent
  Forget(first);

  GcOptions o;
  o.now_unix_ns = NowNs() + 3600ll * 1000000000;  // everything so far is old
  auto s = RunGc(*repo_, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->snapshots, 1u);
  EXPECT_GE(s->chunks_removed, 2u);  // dropped.bin (2 MiB: ≥ 1 chunk) + old metadata
  EXPECT_GE(s->bytes_removed, 2u << 20);
  EXPECT_EQ(s->chunks_missing, 0u);
  EXPECT_EQ(s->orphans_removed.size(), 1u);
  ExpectVerifiesAndRestores(second);
  EXPECT_EQ(ReadAll(base_ + "/restore-0/kept.bin"), Random(3 << 20, 1));
  EXPECT_EQ(ReadAll(base_ + "/restore-0/added.bin"), Random(1 << 20, 3));
  EXPECT_FALSE(sfs::exists(base_ + "/restore-0/dropped.bin"));

  // A second gc has nothing left to do; the next backup still dedups.
  s = RunGc(*repo_, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->chunks_removed, 0u);
  ExpectVerifiesAndRestores(Backup());
}

TEST_F(GcBackupTest, ChunksABackupFoundPresentAreRefreshedAndKept) {
  Write("a.bin", Random(3 << 20, 4));
  const std::string first = Backup();
  SetAllChunkMtimes(NowNs() / 1000000000 * 1000000000 - 7200ll * 1000000000);
  // The only snapshot referencing them is forgotten while a backup that
  // deduplicates against them runs (here: just before; its parent is gone).
  Forget(first);
  const std::string second = Backup();
  auto s = RunGc(*repo_, GcOptions{});  // real clock: cutoff = now - 5 min
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->chunks_removed, 0u) << "dedup hits must have refreshed the chunks";
  EXPECT_EQ(s->chunks_missing, 0u);
  ExpectVerifiesAndRestores(second);
}

TEST_F(GcBackupTest, GcLoopBesideBackupLoop) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> removed{0}, rounds{0};
  std::thread gc([&] {
    GcOptions o;
    // One host, one clock; but file times come from the kernel's coarse
    // clock (a tick, up to 10 ms, behind clock_gettime): never 0.
    o.clock_slack_ns = 1000000000;
    while (!stop) {
      auto s = RunGc(*repo_, o);
      ASSERT_TRUE(s.ok()) << s.status();
      removed += s->chunks_removed;
      rounds++;
    }
  });
  std::vector<std::string> ids;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  for (uint32_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
    Write("stable.bin", Random(2 << 20, 5));
    Write("changing.bin", Random(1 << 20, 100 + i));
    ids.push_back(Backup());
    if (ids.size() > 2) Forget(ids[ids.size() - 3]);  // keep the newest two
  }
  stop = true;
  gc.join();
  EXPECT_GT(rounds.load(), 1u);
  EXPECT_GT(removed.load(), 0u) << "gc should have collected forgotten snapshots' chunks";
  ASSERT_GE(ids.size(), 2u);
  ExpectVerifiesAndRestores(ids[ids.size() - 1]);
  ExpectVerifiesAndRestores(ids[ids.size() - 2]);
}

}  // namespace
}  // namespace arca
