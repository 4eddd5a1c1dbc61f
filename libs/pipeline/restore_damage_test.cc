// RunRestore (what `arca restore` runs) over a damaged repository: a corrupt
// payload chunk costs only the files whose data lies in it — the others are
// restored byte-identical, the damaged one keeps its intact prefix without its
// metadata and is listed with the bad chunk's digest — and the restore ends
// with exit 8; a corrupt metadata chunk still stops the restore (exit 8).
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/bytes.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/restore.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class RestoreDamageTest : public ::testing::Test {
 protected:
  // Three files of 6 MiB; payload chunks are at most 4 MiB, so the last
  // chunk of the payload stream holds only c.bin's data.
  void SetUp() override {
    base_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/restore_damage_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
    const std::string src = base_ + "/src";
    std::filesystem::create_directories(src);
    for (int i = 0; i < 3; ++i) {
      content_[i] = RandomBytes(6 << 20, 1000 + i);
      std::ofstream(src + "/" + kNames[i], std::ios::binary) << content_[i];
      chmod((src + "/" + kNames[i]).c_str(), 0640);
    }
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    BackupOptions backup;
    backup.source = src;
    backup.host = "testhost";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), backup, nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status;
    snapshot_ = r.manifest.id();
  }

  // The last chunk of the snapshot's payload or metadata stream.
  Digest LastChunk(v1::StreamKind kind) {
    absl::StatusOr<LoadedSnapshot> loaded = repo_->LoadSnapshot(snapshot_);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    const std::string& bytes =
        kind == v1::STREAM_KIND_PAYLOAD ? loaded->payload_index : loaded->metadata_index;
    absl::StatusOr<ChunkIndex> index = ChunkIndex::Decode(AsBytes(bytes), kind, "test");
    EXPECT_TRUE(index.ok()) << index.status();
    return index->entries()[index->size() - 1].digest;
  }

  // Flips a byte in the middle of the chunk file.
  void Corrupt(const Digest& d) {
    const std::string path = repo_->local_chunks()->ChunkPath(d);
    std::string blob = ReadAll(path);
    ASSERT_FALSE(blob.empty()) << path;
    blob[blob.size() / 2] ^= 0x5a;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << blob;
  }

  static constexpr const char* kNames[3] = {"a.bin", "b.bin", "c.bin"};
  std::string base_, snapshot_;
  std::string content_[3];
  std::unique_ptr<Repository> repo_;
};

TEST_F(RestoreDamageTest, ACorruptPayloadChunkCostsOnlyItsFileAndExits8) {
  const Digest bad = LastChunk(v1::STREAM_KIND_PAYLOAD);
  Corrupt(bad);
  RestoreOptions options;
  options.target = base_ + "/out";
  RestoreResult r = RunRestore(*repo_, snapshot_, options, nullptr);

  EXPECT_EQ(r.exit_code, ExitCode::kVerification) << r.status;
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
  EXPECT_THAT(r.status.message(), HasSubstr("1 file(s) of snapshot"));
  EXPECT_THAT(r.status.message(), HasSubstr("'c.bin'"));
  ASSERT_EQ(r.damaged_files.size(), 1u);
  const v1::Warning& w = r.damaged_files[0];
  EXPECT_EQ(w.path(), "c.bin");
  EXPECT_TRUE(w.data_missing());
  EXPECT_EQ(w.phase(), v1::PHASE_RESTORE);
  EXPECT_THAT(w.message(), HasSubstr(bad.Hex()));
  EXPECT_THAT(w.message(), HasSubstr("not restored"));

  // The two others byte-identical with their mode; the root and both
  // files were finished (entries counts them, not the damaged one).
  for (int i = 0; i < 2; ++i) {
    const std::string path = options.target + "/" + kNames[i];
    EXPECT_EQ(ReadAll(path), content_[i]) << path;
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
  }
  EXPECT_EQ(r.entries, 3u);
  // The damaged file: only its intact prefix, none of its metadata.
  const std::string c = ReadAll(options.target + "/c.bin");
  EXPECT_LT(c.size(), content_[2].size());
  EXPECT_GT(c.size(), 0u);
  EXPECT_EQ(c, content_[2].substr(0, c.size()));
  struct stat st;
  ASSERT_EQ(stat((options.target + "/c.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(RestoreDamageTest, AnIncludeOfIntactFilesIsClean) {
  Corrupt(LastChunk(v1::STREAM_KIND_PAYLOAD));
  RestoreOptions options;
  options.target = base_ + "/out";
  options.includes = {"a.bin"};
  RestoreResult r = RunRestore(*repo_, snapshot_, options, nullptr);
  EXPECT_EQ(r.exit_code, ExitCode::kSuccess) << r.status;
  EXPECT_TRUE(r.damaged_files.empty());
  EXPECT_EQ(ReadAll(options.target + "/a.bin"), content_[0]);
}

TEST_F(RestoreDamageTest, ACorruptMetadataChunkStillStopsTheRestore) {
  Corrupt(LastChunk(v1::STREAM_KIND_METADATA));
  RestoreOptions options;
  options.target = base_ + "/out";
  RestoreResult r = RunRestore(*repo_, snapshot_, options, nullptr);
  EXPECT_EQ(r.exit_code, ExitCode::kVerification) << r.status;
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
  EXPECT_TRUE(r.damaged_files.empty());
}

}  // namespace
}  // namespace arca
