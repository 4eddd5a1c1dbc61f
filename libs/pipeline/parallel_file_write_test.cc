// The restore job writing large files by chunk ranges from several threads
// (parallel_file_write.h) over the local ports: the same bytes, holes and
// metadata as the sequential restore, and on damage the same intact prefix.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/bytes.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/local_restore_ports.h"
#include "libs/pipeline/restore_job.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// LocalTreeTarget, counting which write calls the job made.
class CountingTarget final : public TreeTarget {
 public:
  explicit CountingTarget(const std::string& target) : local_(target, nullptr) {}
  absl::Status Start(const std::string& id) override { return local_.Start(id); }
  absl::Status BeginEntry(const v1::Entry& e) override { return local_.BeginEntry(e); }
  absl::Status WriteData(std::span<const uint8_t> d) override {
    ++write_data_;
    return local_.WriteData(d);
  }
  bool SupportsParallelData() override { return true; }
  absl::Status WriteDataAt(uint64_t at, std::span<const uint8_t> d) override {
    absl::MutexLock lock(&mu_);
    ++write_data_at_;
    return local_.WriteDataAt(at, d);
  }
  absl::Status EndParallelData(uint64_t intact) override {
    ++parallel_files_;
    return local_.EndParallelData(intact);
  }
  absl::Status FinishEntry() override { return local_.FinishEntry(); }
  absl::Status AbandonEntry(const absl::Status& why) override { return local_.AbandonEntry(why); }
  absl::StatusOr<TreeTargetResult> Finish() override { return local_.Finish(); }
  absl::Status Abort(const absl::Status& why) override { return local_.Abort(why); }

  int write_data_ = 0;
  int parallel_files_ = 0;
  absl::Mutex mu_;
  int write_data_at_ ABSL_GUARDED_BY(mu_) = 0;

 private:
  LocalTreeTarget local_;
};

class ParallelFileWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/parallel_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
    src_ = base_ + "/src";
    std::filesystem::create_directories(src_);
    big_ = RandomBytes(20 << 20, 7);
    std::ofstream(src_ + "/big.bin", std::ios::binary) << big_;
    ASSERT_EQ(chmod((src_ + "/big.bin").c_str(), 0640), 0);
    // Sparse, 40 MiB: 3 MiB of data at 1 MiB and 5 MiB at 30 MiB.
    {
      std::ofstream f(src_ + "/sparse.bin", std::ios::binary);
      f.seekp(1 << 20);
      f << RandomBytes(3 << 20, 8);
      f.seekp(30 << 20);
      f << RandomBytes(5 << 20, 9);
    }
    ASSERT_EQ(truncate((src_ + "/sparse.bin").c_str(), 40 << 20), 0);
    std::ofstream(src_ + "/small.txt") << "small";
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(1);
    absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    BackupOptions backup;
    backup.source = src_;
    backup.host = "testhost";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), backup, nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status;
    snapshot_ = r.manifest.id();
  }

  RestoreResult Restore(const std::string& target, int workers, CountingTarget** counted) {
    LocalSnapshotSource snapshots(repo_.get());
    auto t = std::make_unique<CountingTarget>(target);
    RestoreJobOptions job;
    job.file_workers = workers;
    job.parallel_file_bytes = 1 << 20;
    RestoreResult r = RunRestoreJob(snapshot_, RestorePorts{&snapshots, t.get()}, job);
    *counted = t.get();
    targets_.push_back(std::move(t));
    return r;
  }

  std::string base_, src_, snapshot_, big_;
  std::unique_ptr<Repository> repo_;
  std::vector<std::unique_ptr<CountingTarget>> targets_;
};

TEST_F(ParallelFileWriteTest, LargeFilesComeOutIdenticalAndSparse) {
  const std::string target = base_ + "/out";
  CountingTarget* t = nullptr;
  RestoreResult r = Restore(target, 3, &t);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(t->parallel_files_, 2);  // big.bin and sparse.bin; small.txt in order
  EXPECT_EQ(t->write_data_, 1);
  {
    absl::MutexLock lock(&t->mu_);
    EXPECT_GE(t->write_data_at_, 28);  // 28 MiB of data in pieces of at most 1 MiB
  }
  EXPECT_EQ(ReadAll(target + "/big.bin"), big_);
  EXPECT_EQ(ReadAll(target + "/sparse.bin"), ReadAll(src_ + "/sparse.bin"));
  EXPECT_EQ(r.bytes, (20u << 20) + (8u << 20) + 5);
  struct stat st {};
  ASSERT_EQ(stat((target + "/sparse.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 40 << 20);
  EXPECT_LT(st.st_blocks * 512, 12 << 20);  // the 32 MiB of holes stayed holes
  ASSERT_EQ(stat((target + "/big.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // One worker: every file in order.
  CountingTarget* one = nullptr;
  RestoreResult seq = Restore(base_ + "/seq", 1, &one);
  ASSERT_TRUE(seq.status.ok()) << seq.status;
  EXPECT_EQ(one->parallel_files_, 0);
  EXPECT_EQ(ReadAll(base_ + "/seq/big.bin"), big_);
}

TEST_F(ParallelFileWriteTest, DamageKeepsExactlyTheIntactPrefixLikeTheSequentialRestore) {
  // Corrupt the chunk holding byte 10 MiB of the payload (inside big.bin).
  absl::StatusOr<LoadedSnapshot> loaded = repo_->LoadSnapshot(snapshot_);
  ASSERT_TRUE(loaded.ok());
  absl::StatusOr<ChunkIndex> index =
      ChunkIndex::Decode(AsBytes(loaded->payload_index), v1::STREAM_KIND_PAYLOAD, "test");
  ASSERT_TRUE(index.ok());
  absl::StatusOr<ChunkRange> at = index->Find(10 << 20, 1);
  ASSERT_TRUE(at.ok());
  const uint64_t chunk_start = at->first_start;
  const std::string path = repo_->local_chunks()->ChunkPath(index->entries()[at->first].digest);
  std::string blob = ReadAll(path);
  blob[blob.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << blob;

  const std::string target = base_ + "/out";
  CountingTarget* t = nullptr;
  RestoreResult r = Restore(target, 3, &t);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.exit_code, ExitCode::kVerification);
  ASSERT_EQ(r.damaged_files.size(), 1u);
  EXPECT_EQ(r.damaged_files[0].path(), "big.bin");
  EXPECT_THAT(r.damaged_files[0].message(),
              HasSubstr(absl::StrCat("not restored: its data is damaged from byte ", chunk_start,
                                     " of ", 20 << 20, " on (")));
  EXPECT_EQ(ReadAll(target + "/big.bin"), big_.substr(0, chunk_start));
  // The rest is restored.
  EXPECT_EQ(ReadAll(target + "/sparse.bin"), ReadAll(src_ + "/sparse.bin"));

  // The sequential restore keeps the same prefix (the chunk is now moved
  // aside: missing instead of corrupt, damaged from the same byte).
  CountingTarget* one = nullptr;
  RestoreResult seq = Restore(base_ + "/seq", 1, &one);
  ASSERT_EQ(seq.damaged_files.size(), 1u);
  EXPECT_THAT(seq.damaged_files[0].message(),
              HasSubstr(absl::StrCat("damaged from byte ", chunk_start, " of ")));
  EXPECT_EQ(ReadAll(base_ + "/seq/big.bin"), ReadAll(target + "/big.bin"));
}

}  // namespace
}  // namespace arca
