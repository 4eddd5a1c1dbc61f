// A snapshot whose stored names try to escape the restore target is
// refused, and nothing is written outside the target.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/hash/crc32c.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/chunk_writer.h"
#include "libs/store/repository.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Encodes a metadata stream by hand, following docs/formats/metadata-stream.md,
// because MetadataStreamWriter refuses invalid names: this is what an
// attacker with write access to the repository could store.
std::string RawMetadataStream(const std::vector<v1::Entry>& entries) {
  std::string out = "ARCAMETA";
  PutU32(&out, 1);
  PutU32(&out, 0);
  std::string check_input = out;
  for (const v1::Entry& e : entries) {
    std::string body = e.SerializeAsString();
    std::string prefix;
    PutU32(&prefix, static_cast<uint32_t>(body.size()));
    PutU32(&prefix, Crc32c(body));
    check_input += prefix;
    out += prefix + body;
  }
  std::string trailer;
  PutU32(&trailer, 0xFFFFFFFFu);
  PutU32(&trailer, 0);
  PutU64(&trailer, entries.size());
  PutU32(&trailer, Crc32c(check_input));
  PutU32(&trailer, Crc32c(trailer));
  return out + trailer;
}

PendingChunk Chunk(v1::StreamKind kind, const std::string& bytes) {
  PendingChunk c;
  c.stream = kind;
  c.data = ByteBuffer(bytes.size());
  memcpy(c.data.data(), bytes.data(), bytes.size());
  c.data.set_size(bytes.size());
  return c;
}

v1::Entry RootEntry() {
  v1::Entry root;
  root.set_type(v1::ENTRY_TYPE_DIRECTORY);
  root.set_mode(0755);
  return root;
}

// A regular file whose 5 bytes are at the start of the payload stream.
v1::Entry FiveByteFile(const std::string& name) {
  v1::Entry f;
  f.set_path(name);
  f.set_type(v1::ENTRY_TYPE_REGULAR);
  f.set_mode(0644);
  f.set_size(5);
  f.mutable_payload()->set_offset(0);
  f.mutable_payload()->set_length(5);
  return f;
}

// Writes a snapshot of `entries` whose payload stream is "evil\n"; returns
// its id in *id.
void WriteEntries(Repository& repo, const std::vector<v1::Entry>& entries, std::string* id) {
  ChunkWriter writer(repo.chunks(), repo.key(), Codec::kZstd, 3);
  ASSERT_TRUE(writer.Process(Chunk(v1::STREAM_KIND_PAYLOAD, "evil\n")).ok());
  ASSERT_TRUE(writer.Process(Chunk(v1::STREAM_KIND_METADATA, RawMetadataStream(entries))).ok());
  absl::StatusOr<ChunkIndex> mi = writer.BuildIndex(v1::STREAM_KIND_METADATA);
  absl::StatusOr<ChunkIndex> pi = writer.BuildIndex(v1::STREAM_KIND_PAYLOAD);
  ASSERT_TRUE(mi.ok() && pi.ok());
  ASSERT_TRUE(repo.chunks()->Flush().ok());
  v1::Manifest m;
  m.set_group("attacker");
  m.set_host("attacker");
  m.add_sources("/");
  v1::IndexFileInfo* a = m.add_indexes();
  a->set_name("metadata.aidx");
  a->set_stream(v1::STREAM_KIND_METADATA);
  a->set_chunk_count(mi->size());
  a->set_stream_length(mi->stream_length());
  v1::IndexFileInfo* b = m.add_indexes();
  b->set_name("payload.aidx");
  b->set_stream(v1::STREAM_KIND_PAYLOAD);
  b->set_chunk_count(pi->size());
  b->set_stream_length(pi->stream_length());
  absl::StatusOr<v1::Manifest> done = repo.CommitSnapshot(m, mi->Encode(v1::STREAM_KIND_METADATA),
                                                          pi->Encode(v1::STREAM_KIND_PAYLOAD));
  ASSERT_TRUE(done.ok()) << done.status();
  *id = done->id();
}

// Writes a snapshot holding the root directory and one file named `name`.
void WriteSnapshot(Repository& repo, const std::string& name) {
  std::string id;
  WriteEntries(repo, {RootEntry(), FiveByteFile(name)}, &id);
}

absl::StatusOr<std::unique_ptr<Repository>> NewRepository(const std::string& repo_dir) {
  v1::RepositoryConfig config;
  *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
  *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
  config.set_default_codec(v1::CODEC_ZSTD);
  config.set_default_level(3);
  return Repository::Init(repo_dir, config);
}

class MaliciousSnapshotTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MaliciousSnapshotTest, RestoreRefusesAndWritesNothingOutside) {
  std::string base = NewTempDir("malicious");
  std::string repo_dir = base + "/repo";
  absl::StatusOr<std::unique_ptr<Repository>> repo = NewRepository(repo_dir);
  ASSERT_TRUE(repo.ok()) << repo.status();
  WriteSnapshot(**repo, GetParam());

  std::string target = base + "/outer/inner/target";
  std::filesystem::create_directories(target);
  RunResult r = RunArca({"restore", "latest", target, "--repo", repo_dir});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.Describe();
  EXPECT_NE(r.err.find(GetParam()), std::string::npos) << r.Describe();
  struct stat st;
  EXPECT_NE(lstat((base + "/outer/inner/evil").c_str(), &st), 0);
  EXPECT_NE(lstat((base + "/outer/evil").c_str(), &st), 0);
  EXPECT_NE(lstat("/evil-arca-test", &st), 0);
}

INSTANTIATE_TEST_SUITE_P(Names, MaliciousSnapshotTest,
                         ::testing::Values("../evil", "../../evil", "/evil-arca-test",
                                           "a/../../evil", "./../evil"));

// A hardlink whose target is missing or not a regular file: verify reports
// it (exit 8, naming the snapshot and both paths); restore refuses it (13).
struct BrokenHardlink {
  std::string name;
  std::vector<v1::Entry> before;  // entries between the root and the link
  std::string target;
  std::string why;
};

class BrokenHardlinkTest : public ::testing::TestWithParam<BrokenHardlink> {};

TEST_P(BrokenHardlinkTest, VerifyReportsIt) {
  const BrokenHardlink& c = GetParam();
  std::string base = NewTempDir("hardlink");
  std::string repo_dir = base + "/repo";
  absl::StatusOr<std::unique_ptr<Repository>> repo = NewRepository(repo_dir);
  ASSERT_TRUE(repo.ok()) << repo.status();
  std::vector<v1::Entry> entries = {RootEntry()};
  entries.insert(entries.end(), c.before.begin(), c.before.end());
  v1::Entry link;
  link.set_path("z-link");
  link.set_type(v1::ENTRY_TYPE_HARDLINK);
  link.set_mode(0644);
  link.set_hardlink_target(c.target);
  entries.push_back(link);
  std::string id;
  WriteEntries(**repo, entries, &id);

  RunResult v = RunArca({"verify", "--repo", repo_dir});
  EXPECT_EQ(v.exit_code, 8) << v.Describe();
  const std::string want = absl::StrCat("snapshot ", id, ": hardlink 'z-link' points at '",
                                        c.target, "', which ", c.why);
  EXPECT_NE(v.err.find(want), std::string::npos) << want << "\n" << v.Describe();

  std::string target = base + "/target";
  std::filesystem::create_directories(target);
  RunResult r = RunArca({"restore", "latest", target, "--repo", repo_dir});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
}

v1::Entry Dir(const std::string& path) {
  v1::Entry d = RootEntry();
  d.set_path(path);
  return d;
}

v1::Entry Symlink(const std::string& path) {
  v1::Entry l;
  l.set_path(path);
  l.set_type(v1::ENTRY_TYPE_SYMLINK);
  l.set_mode(0777);
  l.set_symlink_target("elsewhere");
  return l;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenHardlinkTest,
    ::testing::Values(
        BrokenHardlink{
            "Missing", {FiveByteFile("a-file")}, "a-gone", "is missing from the snapshot"},
        BrokenHardlink{"Directory", {Dir("a-dir")}, "a-dir", "is a directory, not a regular file"},
        BrokenHardlink{"Symlink", {Symlink("a-sym")}, "a-sym", "is a symlink, not a regular file"}),
    [](const ::testing::TestParamInfo<BrokenHardlink>& info) { return info.param.name; });

// The same snapshot with a good hardlink verifies clean.
TEST(HardlinkVerify, GoodHardlinkIsClean) {
  std::string base = NewTempDir("hardlink-ok");
  std::string repo_dir = base + "/repo";
  absl::StatusOr<std::unique_ptr<Repository>> repo = NewRepository(repo_dir);
  ASSERT_TRUE(repo.ok()) << repo.status();
  v1::Entry link;
  link.set_path("z-link");
  link.set_type(v1::ENTRY_TYPE_HARDLINK);
  link.set_mode(0644);
  link.set_hardlink_target("a-file");
  std::string id;
  WriteEntries(**repo, {RootEntry(), FiveByteFile("a-file"), link}, &id);
  RunResult v = RunArca({"verify", "--repo", repo_dir});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
}

}  // namespace
}  // namespace arca::e2e
