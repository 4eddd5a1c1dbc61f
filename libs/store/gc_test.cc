// RunGc over a temp repository with snapshots committed directly (indexes
// built with ChunkIndex), plus the pieces it relies on: the mtime refresh of
// Has/Put, RemoveChunkIfOlder, ForEachChunkFile's repair of ".gc-" files,
// writer-lock heartbeats and staleness. The end-to-end tests with real
// backups, verify and restore are libs/pipeline/gc_backup_test.cc.
#include "libs/store/gc.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/hash/digest.h"
#include "libs/store/chunk_store.h"
#include "libs/store/repository.h"

namespace arca {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr int64_t kMinute = 60ll * 1000000000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MtimeNs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

void SetMtime(const std::string& path, int64_t ns) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = ns / 1000000000;
  ts[0].tv_nsec = ts[1].tv_nsec = ns % 1000000000;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

v1::RepositoryConfig Config() {
  v1::RepositoryConfig c;
  c.mutable_payload_chunker()->set_min_size(256 << 10);
  c.mutable_payload_chunker()->set_avg_size(1 << 20);
  c.mutable_payload_chunker()->set_max_size(4 << 20);
  c.mutable_metadata_chunker()->set_min_size(64 << 10);
  c.mutable_metadata_chunker()->set_avg_size(256 << 10);
  c.mutable_metadata_chunker()->set_max_size(1 << 20);
  c.set_default_codec(v1::CODEC_ZSTD);
  c.set_default_level(3);
  return c;
}

Digest D(int i) { return Sha256(absl::StrCat("chunk ", i)); }

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(std::getenv("TEST_TMPDIR")) /
            ::testing::UnitTest::GetInstance()->current_test_info()->name())
               .string();
    fs::remove_all(dir_);
    auto repo = Repository::Init(dir_, Config());
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
  }

  // Stores chunks `ids` (blob = "blob <i>").
  void PutChunks(const std::vector<int>& ids) {
    for (int i : ids) ASSERT_TRUE(repo_->chunks()->Put(D(i), absl::StrCat("blob ", i)).ok());
    ASSERT_TRUE(repo_->chunks()->Flush().ok());
  }

  // Commits a snapshot whose metadata index lists meta[] and payload payload[].
  std::string Commit(const std::vector<int>& meta, const std::vector<int>& payload,
                     const std::string& source = "/src") {
    ChunkIndex m, p;
    for (int i : meta) m.Append(D(i), 10);
    for (int i : payload) p.Append(D(i), 10);
    v1::Manifest draft;
    draft.set_host("h");
    draft.add_sources(source);
    auto c = repo_->CommitSnapshot(draft, m.Encode(v1::STREAM_KIND_METADATA),
                                   p.Encode(v1::STREAM_KIND_PAYLOAD));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->id() : "";
  }

  std::string ChunkFile(int i) { return repo_->local_chunks()->ChunkPath(D(i)); }
  bool Exists(const std::string& p) { return fs::exists(fs::symlink_status(p)); }

  // A lock file as another writer would write it; its mtime is its heartbeat.
  std::string WriteLock(int64_t pid, const std::string& host, int64_t start_ns,
                        int64_t heartbeat_ns) {
    const std::string path = absl::StrCat(dir_, "/locks/", start_ns, "-", pid, "-0.lock");
    WriteFile(path, absl::StrCat("pid=", pid, "\nhost=", host, "\nstart_unix_ns=", start_ns,
                                 "\ndescription=test\n"));
    SetMtime(path, heartbeat_ns);
    return path;
  }

  GcStats Gc(GcOptions o) {
    auto st = RunGc(*repo_, o);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? *st : GcStats{};
  }

  std::string dir_;
  std::unique_ptr<Repository> repo_;
};

// Everything created before the test counts as old: the gc's clock runs an
// hour ahead, so its cutoff (no writers) is now + 55 min.
GcOptions HourAhead() {
  GcOptions o;
  o.now_unix_ns = NowNs() + 60 * kMinute;
  return o;
}

TEST_F(GcTest, RemovesUnreferencedAndKeepsReferencedAndRecentChunks) {
  PutChunks({1, 2, 3, 4, 5});
  Commit({1}, {2, 3});
  SetMtime(ChunkFile(5), NowNs() + 120 * kMinute);  // "newer than the cutoff"
  const GcStats s = Gc(HourAhead());
  EXPECT_EQ(s.snapshots, 1u);
  EXPECT_EQ(s.chunks_marked, 3u);
  EXPECT_EQ(s.chunks_removed, 1u);  // 4
  EXPECT_EQ(s.bytes_removed, std::string("blob 4").size());
  EXPECT_EQ(s.chunks_kept, 4u);
  EXPECT_EQ(s.chunks_kept_recent, 1u);
  EXPECT_EQ(s.chunks_missing, 0u);
  for (int i : {1, 2, 3, 5}) EXPECT_TRUE(Exists(ChunkFile(i))) << i;
  EXPECT_FALSE(Exists(ChunkFile(4)));
  EXPECT_TRUE(repo_->LoadSnapshot("latest").ok());
}

TEST_F(GcTest, ChunksOfEverySnapshotAndBothIndexesAreMarked) {
  PutChunks({1, 2, 3, 4, 5, 6});
  Commit({1}, {2});
  Commit({3}, {1, 4}, "/other");
  const GcStats s = Gc(HourAhead());
  EXPECT_EQ(s.snapshots, 2u);
  EXPECT_EQ(s.chunks_marked, 4u);
  EXPECT_EQ(s.chunks_removed, 2u);
  EXPECT_FALSE(Exists(ChunkFile(5)));
  EXPECT_FALSE(Exists(ChunkFile(6)));
}

TEST_F(GcTest, DryRunRemovesNothingAndReportsTheSame) {
  PutChunks({1, 2, 3});
  Commit({1}, {2});
  WriteFile(dir_ + "/chunks/.tmp-x", "x");  // not in an ab/cd dir: not a chunk temp
  const std::string orphan = dir_ + "/snapshots/h_src/20200101T000000.000000000Z";
  fs::create_directories(orphan);
  GcOptions o = HourAhead();
  o.dry_run = true;
  const GcStats dry = Gc(o);
  EXPECT_EQ(dry.chunks_removed, 1u);
  EXPECT_THAT(dry.orphans_removed, SizeIs(1));
  EXPECT_TRUE(Exists(ChunkFile(3)));
  EXPECT_TRUE(Exists(orphan));
  const GcStats real = Gc(HourAhead());
  EXPECT_EQ(real.chunks_removed, dry.chunks_removed);
  EXPECT_EQ(real.bytes_removed, dry.bytes_removed);
  EXPECT_EQ(real.orphans_removed, dry.orphans_removed);
  EXPECT_FALSE(Exists(ChunkFile(3)));
  EXPECT_FALSE(Exists(orphan));
}

TEST_F(GcTest, ChunkNewerThanALiveWritersStartIsKept) {
  PutChunks({1, 2});
  Commit({1}, {});
  const int64_t now = NowNs();
  // A live writer (this process) that started 10 minutes ago: cutoff 15 min ago.
  WriteLock(::getpid(), WriterLockHostName(), now - 10 * kMinute, now);
  GcOptions o;
  o.now_unix_ns = now + kMinute;
  GcStats s = Gc(o);
  EXPECT_EQ(s.live_locks, 1u);
  EXPECT_EQ(s.cutoff_unix_ns, now - 15 * kMinute);
  EXPECT_EQ(s.chunks_removed, 0u);
  EXPECT_EQ(s.chunks_kept_recent, 1u);
  EXPECT_TRUE(Exists(ChunkFile(2)));
  // Older than the writer's start minus the slack: removed despite the lock.
  SetMtime(ChunkFile(2), now - 20 * kMinute);
  s = Gc(o);
  EXPECT_EQ(s.chunks_removed, 1u);
}

TEST_F(GcTest, StaleLocksAreRemovedAndNotHonoured) {
  PutChunks({1, 2});
  Commit({1}, {});
  const int64_t now = NowNs();
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // now a dead pid
  const std::string dead = WriteLock(child, WriterLockHostName(), now - 60 * kMinute, now);
  // Another host's writer whose heartbeat stopped 20 minutes ago.
  const std::string silent = WriteLock(1, "elsewhere", now - 60 * kMinute, now - 20 * kMinute);
  SetMtime(ChunkFile(2), now - 30 * kMinute);
  GcOptions o;
  o.now_unix_ns = now;
  const GcStats s = Gc(o);
  EXPECT_EQ(s.live_locks, 0u);
  EXPECT_THAT(
      s.stale_locks_removed,
      ::testing::UnorderedElementsAre(HasSubstr(absl::StrCat("process ", child, " on this host")),
                                      HasSubstr("no heartbeat for 1200 s (limit 900 s)")));
  EXPECT_FALSE(Exists(dead));
  EXPECT_FALSE(Exists(silent));
  EXPECT_EQ(s.cutoff_unix_ns, now - 5 * kMinute);
  EXPECT_EQ(s.chunks_removed, 1u);
}

TEST_F(GcTest, StaleLockMinutesIsAnOption) {
  const int64_t now = NowNs();
  WriteLock(1, "elsewhere", now - 60 * kMinute, now - 20 * kMinute);
  GcOptions o;
  o.now_unix_ns = now;
  o.stale_lock_ns = 30 * kMinute;
  const GcStats s = Gc(o);
  EXPECT_EQ(s.live_locks, 1u);
  EXPECT_EQ(s.cutoff_unix_ns, now - 65 * kMinute);
}

TEST_F(GcTest, RemovesOldTempFilesOnly) {
  PutChunks({1});
  const std::string leaf = fs::path(ChunkFile(1)).parent_path().string();
  WriteFile(leaf + "/.tmp-old", "12345");
  WriteFile(leaf + "/.tmp-new", "1");
  SetMtime(leaf + "/.tmp-new", NowNs() + 120 * kMinute);
  WriteFile(dir_ + "/.tmp-config", "123");
  WriteFile(dir_ + "/locks/.tmp-lock", "1");
  const GcStats s = Gc(HourAhead());
  EXPECT_EQ(s.temp_files_removed, 3u);
  EXPECT_EQ(s.temp_bytes_removed, 9u);
  EXPECT_FALSE(Exists(leaf + "/.tmp-old"));
  EXPECT_TRUE(Exists(leaf + "/.tmp-new"));
  EXPECT_FALSE(Exists(dir_ + "/.tmp-config"));
  EXPECT_FALSE(Exists(dir_ + "/locks/.tmp-lock"));
}

TEST_F(GcTest, LockTempFileOfADeadWriterOfThisHostGoesAtAnyAge) {
  const int64_t now = NowNs();
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // now a dead pid
  const std::string host = WriterLockHostName();
  const std::string locks = dir_ + "/locks/";
  const std::string dead = locks + WriterLockTempName(child, host);
  const std::string live = locks + WriterLockTempName(::getpid(), host);
  const std::string other = locks + WriterLockTempName(child, "elsewhere.example");
  const std::string old_style = locks + ".tmp-0123456789abcdef";
  for (const std::string& p : {dead, live, other, old_style}) WriteFile(p, "");  // killed early
  EXPECT_THAT(fs::path(dead).filename().string(),
              ::testing::StartsWith(absl::StrCat(".tmp-", child, "-")));
  GcOptions o;
  o.now_unix_ns = now;
  GcStats s = Gc(o);
  EXPECT_EQ(s.temp_files_removed, 1u);
  EXPECT_FALSE(Exists(dead));
  EXPECT_TRUE(Exists(live));
  EXPECT_TRUE(Exists(other));
  EXPECT_TRUE(Exists(old_style));

  // Older than the stale-lock limit: everything goes, the live pid's too (as
  // a lock whose heartbeat stopped).
  o.now_unix_ns = now + 20 * kMinute;
  s = Gc(o);
  EXPECT_EQ(s.temp_files_removed, 3u);
  EXPECT_FALSE(Exists(live));
  EXPECT_FALSE(Exists(other));
  EXPECT_FALSE(Exists(old_style));
}

TEST_F(GcTest, DryRunCountsADeadWritersLockTempFile) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string dead = dir_ + "/locks/" + WriterLockTempName(child, WriterLockHostName());
  WriteFile(dead, "");
  GcOptions o;
  o.dry_run = true;
  EXPECT_EQ(Gc(o).temp_files_removed, 1u);
  EXPECT_TRUE(Exists(dead));
}

TEST_F(GcTest, CreateWriterLockLeavesNoTempFile) {
  auto lock = CreateWriterLock(dir_, "test", 0);
  ASSERT_TRUE(lock.ok()) << lock.status();
  for (const auto& e : fs::directory_iterator(dir_ + "/locks")) {
    EXPECT_THAT(e.path().filename().string(), ::testing::EndsWith(".lock"));
  }
}

TEST_F(GcTest, RemovesOrphanSnapshotDirectories) {
  PutChunks({1, 2});
  const std::string id = Commit({1}, {2});
  const std::string g = dir_ + "/snapshots/h_src";
  const std::string crashed = g + "/20200101T000000.000000000Z";  // indexes, no manifest
  fs::create_directories(crashed);
  WriteFile(crashed + "/metadata.aidx", "x");
  const std::string forgotten = g + "/.forget-20200102T000000.000000000Z";
  fs::create_directories(forgotten);
  WriteFile(forgotten + "/manifest.json", "{}");
  const std::string young = g + "/20200103T000000.000000000Z";  // a commit in progress
  fs::create_directories(young);
  SetMtime(young, NowNs() + 120 * kMinute);
  const std::string stranger = g + "/notes";
  fs::create_directories(stranger);
  const GcStats s = Gc(HourAhead());
  EXPECT_THAT(s.orphans_removed, ::testing::UnorderedElementsAre(crashed, forgotten));
  EXPECT_FALSE(Exists(crashed));
  EXPECT_FALSE(Exists(forgotten));
  EXPECT_TRUE(Exists(young));
  EXPECT_TRUE(Exists(stranger));
  EXPECT_TRUE(repo_->LoadSnapshot(id).ok());
  EXPECT_EQ(s.chunks_removed, 0u);
}

TEST_F(GcTest, CorruptIndexStopsGcBeforeRemovingAnything) {
  PutChunks({1, 2});
  const std::string id = Commit({1}, {});
  const std::string index = dir_ + "/snapshots/" + id + "/payload.aidx";
  fs::permissions(index, fs::perms::owner_write, fs::perm_options::add);
  WriteFile(index, "garbage");
  auto st = RunGc(*repo_, HourAhead());
  ASSERT_EQ(st.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.status().message(), HasSubstr("gc stopped before removing anything"));
  EXPECT_THAT(st.status().message(), HasSubstr("payload.aidx"));
  EXPECT_TRUE(Exists(ChunkFile(2)));
}

TEST_F(GcTest, HasAndPutOfAPresentChunkRefreshItsMtime) {
  PutChunks({1});
  const int64_t old = NowNs() - 60 * kMinute;
  SetMtime(ChunkFile(1), old);
  ASSERT_TRUE(repo_->chunks()->Has(D(1)).value());
  EXPECT_GT(MtimeNs(ChunkFile(1)), old + 59 * kMinute);
  SetMtime(ChunkFile(1), old);
  EXPECT_FALSE(repo_->chunks()->Put(D(1), "blob 1").value());
  EXPECT_GT(MtimeNs(ChunkFile(1)), old + 59 * kMinute);
  EXPECT_FALSE(repo_->chunks()->Has(D(2)).value());
}

TEST_F(GcTest, RemoveChunkIfOlderKeepsARefreshedChunk) {
  PutChunks({1, 2});
  const int64_t now = NowNs();
  SetMtime(ChunkFile(1), now - 60 * kMinute);
  SetMtime(ChunkFile(2), now - 60 * kMinute);
  ASSERT_TRUE(repo_->chunks()->Has(D(1)).value());  // a writer's dedup hit
  LocalChunkStore* store = repo_->local_chunks();
  EXPECT_FALSE(store->RemoveChunkIfOlder(D(1), now - 30 * kMinute).value());
  EXPECT_TRUE(store->RemoveChunkIfOlder(D(2), now - 30 * kMinute).value());
  EXPECT_FALSE(store->RemoveChunkIfOlder(D(2), now - 30 * kMinute).value());  // absent
  EXPECT_TRUE(Exists(ChunkFile(1)));
  EXPECT_FALSE(Exists(ChunkFile(2)));
  EXPECT_FALSE(repo_->chunks()->Has(D(2)).value());
}

TEST_F(GcTest, ForEachChunkFileRestoresAnInterruptedRemoval) {
  PutChunks({1});
  const std::string path = ChunkFile(1);
  const std::string aside = fs::path(path).parent_path().string() + "/.gc-" + D(1).Hex();
  fs::rename(path, aside);  // a gc killed between its rename and its decision
  int seen = 0;
  ASSERT_TRUE(repo_->local_chunks()
                  ->ForEachChunkFile([&](const ChunkFileInfo& f) {
                    EXPECT_EQ(f.digest, D(1));
                    ++seen;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(Exists(path));
  EXPECT_FALSE(Exists(aside));
}

TEST(WriterLockTest, HeartbeatRefreshesTheLockFile) {
  const std::string dir = (fs::path(std::getenv("TEST_TMPDIR")) / "heartbeat").string();
  fs::create_directories(dir);
  auto lock = CreateWriterLock(dir, "test", /*heartbeat_seconds=*/1);
  ASSERT_TRUE(lock.ok()) << lock.status();
  const int64_t old = NowNs() - 60 * kMinute;
  SetMtime((*lock)->path(), old);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_GT(MtimeNs((*lock)->path()), old + 59 * kMinute);
  auto infos = ListWriterLocksIn(dir);
  ASSERT_THAT(*infos, SizeIs(1));
  EXPECT_EQ((*infos)[0].start_unix_ns, (*lock)->start_unix_ns());
  EXPECT_GT((*infos)[0].heartbeat_unix_ns, old + 59 * kMinute);
  EXPECT_TRUE((*lock)->Held().ok());
  fs::remove((*lock)->path());  // a gc found it stale
  const absl::Status held = (*lock)->Held();
  EXPECT_EQ(held.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(held.message(), HasSubstr("was removed"));
  EXPECT_EQ((*lock)->Heartbeat().code(), absl::StatusCode::kAborted);
}

TEST(WriterLockTest, TempNameRecordsPidAndAFileNameSafeHost) {
  EXPECT_EQ(WriterLockTempHostTag("build-3.example.com"), "build-3.example.com");
  for (const std::string host : {std::string("a/b"), std::string("h_1"), std::string(""),
                                 std::string(65, 'x'), std::string("caf\xc3\xa9")}) {
    const std::string tag = WriterLockTempHostTag(host);
    EXPECT_THAT(tag, ::testing::MatchesRegex("_[0-9a-f]{16}")) << host;
    EXPECT_EQ(tag, WriterLockTempHostTag(host));  // stable
  }
  EXPECT_NE(WriterLockTempHostTag("a/b"), WriterLockTempHostTag("a/c"));
  EXPECT_THAT(WriterLockTempName(42, "my-host"),
              ::testing::MatchesRegex("\\.tmp-42-my-host-[0-9a-f]{16}"));
  EXPECT_THAT(WriterLockTempName(42, "a/b"),
              ::testing::MatchesRegex("\\.tmp-42-_[0-9a-f]{16}-[0-9a-f]{16}"));
  // 999999999 is no pid here.
  EXPECT_THAT(WriterLockTempDeadReason(WriterLockTempName(999999999, "my-host"), "my-host"),
              HasSubstr("process 999999999 on this host (my-host) is gone"));
  EXPECT_THAT(WriterLockTempDeadReason(WriterLockTempName(999999999, "a/b"), "a/b"),
              HasSubstr("is gone"));
  EXPECT_EQ(WriterLockTempDeadReason(WriterLockTempName(999999999, "my-host"), "other"), "");
  EXPECT_EQ(WriterLockTempDeadReason(WriterLockTempName(::getpid(), "me"), "me"), "");
  for (const char* name : {".tmp-0123456789abcdef", ".tmp-x1-me-0123456789abcdef", ".tmp-1--ab",
                           ".tmp--me-ab", ".tmp-0-me-ab", "x.tmp-999999999-me-ab"}) {
    EXPECT_EQ(WriterLockTempDeadReason(name, "me"), "") << name;
  }
}

TEST(WriterLockTest, StaleReason) {
  WriterLockInfo live;
  live.pid = ::getpid();
  live.host = "me";
  live.heartbeat_unix_ns = 1000 * kMinute;
  EXPECT_EQ(WriterLockStaleReason(live, "me", 1010 * kMinute, 15 * kMinute), "");
  EXPECT_THAT(WriterLockStaleReason(live, "me", 1016 * kMinute, 15 * kMinute),
              HasSubstr("no heartbeat for 960 s"));
  WriterLockInfo other = live;
  other.host = "other";
  other.pid = 999999999;  // no such pid here, but on another host it says nothing
  EXPECT_EQ(WriterLockStaleReason(other, "me", 1010 * kMinute, 15 * kMinute), "");
  other.host = "me";
  EXPECT_THAT(WriterLockStaleReason(other, "me", 1010 * kMinute, 15 * kMinute),
              HasSubstr("process 999999999 on this host (me) is gone"));
}

}  // namespace
}  // namespace arca
