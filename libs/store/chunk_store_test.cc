// One conformance suite (TEST_P) for every ChunkStore implementation, then
// tests of what only LocalChunkStore and FaultInjectionChunkStore do.
#include "libs/store/chunk_store.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"
#include "libs/store/chunk_store_conformance.h"

namespace arca {
namespace {

namespace fs = std::filesystem;
using conformance::Blob;
using conformance::ChunkStoreConformance;
using conformance::D;
using conformance::Implementation;
using conformance::StoreUnderTest;
using ::testing::HasSubstr;

std::string NewTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path p = fs::path(base ? base : "/tmp") / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

int dir_counter = 0;

std::vector<Implementation> Implementations() {
  return {
      {"LocalSyncfs",
       [] {
         std::string dir = NewTempDir(absl::StrCat("syncfs", ++dir_counter, "/chunks"));
         StoreUnderTest s;
         s.base = std::move(LocalChunkStore::Open(dir).value());
         return s;
       }},
      {"LocalPerFileFsync",
       [] {
         std::string dir = NewTempDir(absl::StrCat("perfile", ++dir_counter, "/chunks"));
         LocalChunkStoreOptions options;
         options.per_file_fsync = true;
         StoreUnderTest s;
         s.base = std::move(LocalChunkStore::Open(dir, options).value());
         return s;
       }},
      {"LocalSmallBatches",
       [] {
         std::string dir = NewTempDir(absl::StrCat("small", ++dir_counter, "/chunks"));
         LocalChunkStoreOptions options;
         options.max_pending_bytes = 1000;  // Put flushes by itself often
         StoreUnderTest s;
         s.base = std::move(LocalChunkStore::Open(dir, options).value());
         return s;
       }},
      {"Memory",
       [] {
         StoreUnderTest s;
         s.base = std::make_unique<MemoryChunkStore>();
         return s;
       }},
      {"FaultInjectionOverMemory",
       [] {
         StoreUnderTest s;
         s.base = std::make_unique<MemoryChunkStore>();
         s.store = std::make_unique<FaultInjectionChunkStore>(s.base.get());
         return s;
       }},
  };
}

INSTANTIATE_TEST_SUITE_P(AllImplementations, ChunkStoreConformance,
                         ::testing::ValuesIn(Implementations()),
                         [](const ::testing::TestParamInfo<Implementation>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// LocalChunkStore specifics.

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LocalChunkStoreTest, OpenMissingDirectoryIsNotFound) {
  const std::string dir = NewTempDir("open_missing") + "/chunks";
  auto store = LocalChunkStore::Open(dir);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store.status().message(),
              HasSubstr(absl::StrCat("chunk directory ", dir, " does not exist")));
}

TEST(LocalChunkStoreTest, OpenFileIsFailedPrecondition) {
  const std::string dir = NewTempDir("open_file") + "/chunks";
  std::ofstream(dir) << "x";
  auto store = LocalChunkStore::Open(dir);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("is not a directory"));
}

TEST(LocalChunkStoreTest, ChunkBecomesVisibleUnderItsNameOnlyAtFlush) {
  const std::string dir = NewTempDir("layout/chunks");
  auto store = LocalChunkStore::Open(dir).value();
  const std::string blob = Blob(1);
  const Digest d = D(blob);
  const std::string hex = d.Hex();
  ASSERT_TRUE(store->Put(d, blob).value());
  const std::string final_path =
      absl::StrCat(dir, "/", hex.substr(0, 2), "/", hex.substr(2, 2), "/", hex);
  EXPECT_EQ(store->ChunkPath(d), final_path);
  EXPECT_FALSE(fs::exists(final_path));
  std::vector<std::string> files = FilesUnder(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_THAT(files[0], HasSubstr(absl::StrCat(hex.substr(0, 2), "/", hex.substr(2, 2), "/.tmp-")));
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_TRUE(fs::exists(final_path));
  EXPECT_EQ(FilesUnder(dir), std::vector<std::string>{final_path.substr(dir.size() + 1)});
  // Another store (another process) sees it.
  auto reopened = LocalChunkStore::Open(dir).value();
  EXPECT_EQ(reopened->Get(d).value(), blob);
}

TEST(LocalChunkStoreTest, UnflushedChunksAreDiscardedByTheDestructor) {
  const std::string dir = NewTempDir("discard/chunks");
  const std::string blob = Blob(2);
  {
    auto store = LocalChunkStore::Open(dir).value();
    ASSERT_TRUE(store->Put(D(blob), blob).value());
  }
  EXPECT_TRUE(FilesUnder(dir).empty());
  auto store = LocalChunkStore::Open(dir).value();
  EXPECT_FALSE(store->Has(D(blob)).value());
}

TEST(LocalChunkStoreTest, PutFlushesByItselfBeyondMaxPendingBytes) {
  const std::string dir = NewTempDir("autoflush/chunks");
  LocalChunkStoreOptions options;
  options.max_pending_bytes = 1000;
  auto store = LocalChunkStore::Open(dir, options).value();
  const std::string a = Blob(1, 600), b = Blob(2, 600), c = Blob(3, 100);
  ASSERT_TRUE(store->Put(D(a), a).value());
  EXPECT_FALSE(fs::exists(store->ChunkPath(D(a))));
  ASSERT_TRUE(store->Put(D(b), b).value());  // 1200 > 1000: flushed
  EXPECT_TRUE(fs::exists(store->ChunkPath(D(a))));
  EXPECT_TRUE(fs::exists(store->ChunkPath(D(b))));
  ASSERT_TRUE(store->Put(D(c), c).value());
  EXPECT_FALSE(fs::exists(store->ChunkPath(D(c))));
}

TEST(LocalChunkStoreTest, CrashLeftoversAreIgnoredAndRemovedWhenStale) {
  const std::string dir = NewTempDir("leftovers/chunks");
  auto store = LocalChunkStore::Open(dir).value();
  const std::string kept = Blob(1), pending = Blob(2);
  ASSERT_TRUE(store->Put(D(kept), kept).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Put(D(pending), pending).ok());
  // What a crashed writer and strangers leave behind.
  const std::string leaf = fs::path(store->ChunkPath(D(kept))).parent_path();
  std::ofstream(leaf + "/.tmp-0123456789abcdef") << "partial";
  std::ofstream(leaf + "/.tmp-fresh") << "partial";
  std::ofstream(dir + "/README") << "not a chunk";
  fs::create_directories(dir + "/zz/00");
  std::ofstream(dir + "/zz/00/" + D("x").Hex()) << "wrong directory name";
  fs::create_directories(dir + "/00/00");
  std::ofstream(dir + "/00/00/" + D("y").Hex()) << "misplaced chunk";
  std::ofstream(leaf + "/" + std::string(64, 'A')) << "upper-case name";
  // Age one of the temp files by two days.
  struct timespec old[2] = {{time(nullptr) - 48 * 3600, 0}, {time(nullptr) - 48 * 3600, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (leaf + "/.tmp-0123456789abcdef").c_str(), old, 0), 0);

  std::map<Digest, uint64_t> seen;
  ASSERT_TRUE(store
                  ->ForEach([&](const Digest& d, uint64_t size) {
                    seen[d] = size;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen,
            (std::map<Digest, uint64_t>{{D(kept), kept.size()}, {D(pending), pending.size()}}));

  EXPECT_EQ(store->RemoveStaleTempFiles(24 * 3600).value(), 1u);
  EXPECT_FALSE(fs::exists(leaf + "/.tmp-0123456789abcdef"));
  EXPECT_TRUE(fs::exists(leaf + "/.tmp-fresh"));
  // Age 0 removes every foreign temp file but never this store's pending ones.
  EXPECT_EQ(store->RemoveStaleTempFiles(-1).value(), 1u);
  EXPECT_EQ(store->Get(D(pending)).value(), pending);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->Get(D(pending)).value(), pending);

  // Open can do the same cleanup.
  std::ofstream(leaf + "/.tmp-again") << "partial";
  ASSERT_EQ(utimensat(AT_FDCWD, (leaf + "/.tmp-again").c_str(), old, 0), 0);
  LocalChunkStoreOptions options;
  options.remove_stale_temp_files_on_open = true;
  auto reopened = LocalChunkStore::Open(dir, options).value();
  EXPECT_FALSE(fs::exists(leaf + "/.tmp-again"));
}

TEST(LocalChunkStoreTest, MissingChunkMessageNamesRepositoryAndPath) {
  const std::string repo = NewTempDir("msg");
  fs::create_directories(repo + "/chunks");
  auto store = LocalChunkStore::Open(repo + "/chunks").value();
  const Digest d = D("absent");
  absl::Status st = store->Get(d).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("chunk ", d.Hex(), " is missing from ", repo,
                                                   " (expected at ", store->ChunkPath(d), ")")));
}

TEST(LocalChunkStoreTest, UnreadableChunkIsAnErrorNotData) {
  const std::string dir = NewTempDir("unreadable/chunks");
  auto store = LocalChunkStore::Open(dir).value();
  const std::string blob = Blob(9);
  ASSERT_TRUE(store->Put(D(blob), blob).ok());
  ASSERT_TRUE(store->Flush().ok());
  // A directory where the chunk file should be: not a regular file.
  fs::remove(store->ChunkPath(D(blob)));
  fs::create_directory(store->ChunkPath(D(blob)));
  absl::Status st = store->Get(D(blob)).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_THAT(st.message(), HasSubstr(store->ChunkPath(D(blob))));
}

// Root bypasses permission bits, so the not-writable case runs in a child
// process that drops every capability (it stays uid 0, the owner, whose
// permission bits then apply).
TEST(LocalChunkStoreTest, NotWritableRepositoryIsPermissionDenied) {
  const std::string repo = NewTempDir("readonly");
  fs::create_directories(repo + "/chunks");
  auto store = LocalChunkStore::Open(repo + "/chunks").value();
  ASSERT_EQ(chmod((repo + "/chunks").c_str(), 0555), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &header, data) != 0) _exit(2);
    absl::StatusOr<bool> put = store->Put(D("x"), "x");
    bool ok = put.status().code() == absl::StatusCode::kPermissionDenied &&
              put.status().message().find(absl::StrCat(
                  "the repository at ", repo, " is not writable")) != std::string_view::npos;
    if (!ok) fprintf(stderr, "got: %s\n", put.status().ToString().c_str());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop capabilities";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  chmod((repo + "/chunks").c_str(), 0755);
}

// ---------------------------------------------------------------------------
// FaultInjectionChunkStore specifics.

TEST(FaultInjectionChunkStoreTest, FailsPutsAfterN) {
  MemoryChunkStore base;
  FaultInjectionChunkStore store(&base);
  store.FailPutsAfter(2, absl::ResourceExhaustedError("disk full (injected)"));
  EXPECT_TRUE(store.Put(D("a"), "a").value());
  EXPECT_TRUE(store.Put(D("b"), "b").value());
  absl::StatusOr<bool> third = store.Put(D("c"), "c");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.status().message(), "disk full (injected)");
  EXPECT_FALSE(store.Put(D("d"), "d").ok());
  EXPECT_EQ(store.puts(), 4u);
  EXPECT_FALSE(base.Has(D("c")).value());  // the failed call did not reach it
  store.ClearFaults();
  EXPECT_TRUE(store.Put(D("c"), "c").value());
}

TEST(FaultInjectionChunkStoreTest, FailsGetFlushAndHas) {
  MemoryChunkStore base;
  FaultInjectionChunkStore store(&base);
  ASSERT_TRUE(store.Put(D("a"), "a").ok());
  ASSERT_TRUE(store.Put(D("b"), "b").ok());
  store.FailGet(D("a"), absl::DataLossError("bad sector (injected)"));
  EXPECT_EQ(store.Get(D("a")).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store.Get(D("b")).value(), "b");
  EXPECT_EQ(store.gets(), 2u);
  store.FailFlush(absl::UnavailableError("flush (injected)"));
  EXPECT_EQ(store.Flush().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.flushes(), 1u);
  store.FailHas(absl::PermissionDeniedError("has (injected)"));
  EXPECT_EQ(store.Has(D("a")).status().code(), absl::StatusCode::kPermissionDenied);
  store.ClearFaults();
  EXPECT_TRUE(store.Flush().ok());
  EXPECT_EQ(store.Get(D("a")).value(), "a");
}

}  // namespace
}  // namespace arca
