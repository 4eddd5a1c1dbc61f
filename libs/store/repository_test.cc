#include "libs/store/repository.h"

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "libs/base/bytes.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"
#include "libs/store/chunk_store.h"

namespace arca {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string NewDir(const std::string& name) {
  fs::path p = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(p);
  return p.string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data) {
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

v1::RepositoryConfig SampleConfig() {
  v1::RepositoryConfig c;
  c.mutable_payload_chunker()->set_min_size(256 << 10);
  c.mutable_payload_chunker()->set_avg_size(1 << 20);
  c.mutable_payload_chunker()->set_max_size(4 << 20);
  c.mutable_metadata_chunker()->set_min_size(64 << 10);
  c.mutable_metadata_chunker()->set_avg_size(256 << 10);
  c.mutable_metadata_chunker()->set_max_size(1 << 20);
  c.set_default_codec(v1::CODEC_ZSTD);
  c.set_default_level(3);
  c.set_chunker_seed(7);
  return c;
}

std::unique_ptr<Repository> NewRepo(const std::string& name) {
  auto repo = Repository::Init(NewDir(name), SampleConfig());
  EXPECT_TRUE(repo.ok()) << repo.status();
  return std::move(repo).value();
}

// A manifest as the backup pipeline hands it to CommitSnapshot.
v1::Manifest Draft(const std::string& host, const std::string& source, int64_t time_ns,
                   uint64_t new_raw = 0, uint64_t new_stored = 0) {
  v1::Manifest m;
  m.set_host(host);
  m.add_sources(source);
  m.set_group(Repository::GroupName(host, source));
  m.set_time_unix_ns(time_ns);
  v1::IndexFileInfo* mi = m.add_indexes();
  mi->set_name("metadata.aidx");
  mi->set_stream(v1::STREAM_KIND_METADATA);
  mi->set_chunk_count(3);
  mi->set_stream_length(3000);
  v1::IndexFileInfo* pi = m.add_indexes();
  pi->set_name("payload.aidx");
  pi->set_stream(v1::STREAM_KIND_PAYLOAD);
  pi->set_chunk_count(5);
  pi->set_stream_length(5000);
  m.mutable_stats()->set_bytes_new_raw(new_raw);
  m.mutable_stats()->set_bytes_new_stored(new_stored);
  (*m.mutable_options())["compression"] = "zstd";
  return m;
}

constexpr int64_t kT0 = 1704164645123456789;  // 2024-01-02 03:04:05.123456789 UTC

// ---------------------------------------------------------------------------
// Init / Open.

TEST(RepositoryInitTest, CreatesLayoutAndConfigThatOpenReadsBack) {
  const std::string dir = NewDir("init/nested/repo");  // parents created too
  auto repo = Repository::Init(dir, SampleConfig());
  ASSERT_TRUE(repo.ok()) << repo.status();
  for (const char* sub : {"chunks", "snapshots", "locks"}) {
    EXPECT_TRUE(fs::is_directory(dir + "/" + sub)) << sub;
  }
  const v1::RepositoryConfig& c = (*repo)->config();
  EXPECT_EQ(c.format_version(), 1u);
  EXPECT_TRUE(std::regex_match(c.repository_id(), std::regex("[0-9a-f]{32}"))) << c.repository_id();
  EXPECT_GT(c.created_unix_ns(), 1600000000LL * 1000000000);
  EXPECT_EQ(c.payload_chunker().avg_size(), 1u << 20);
  EXPECT_EQ((*repo)->path(), dir);

  // The config is pretty JSON with the proto field names.
  const std::string json = ReadFile(dir + "/config");
  EXPECT_THAT(json, HasSubstr("\"format_version\": 1"));
  EXPECT_THAT(json, HasSubstr("\"payload_chunker\": {"));
  EXPECT_THAT(json, HasSubstr("\"default_codec\": \"CODEC_ZSTD\""));
  EXPECT_THAT(json, HasSubstr(c.repository_id()));

  auto opened = Repository::Open(dir + "/");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->config().SerializeAsString(), c.SerializeAsString());
  EXPECT_EQ((*opened)->path(), dir);

  auto other = Repository::Init(NewDir("init2"), SampleConfig());
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->config().repository_id(), c.repository_id());
}

TEST(RepositoryInitTest, RefusesAnExistingRepository) {
  auto repo = NewRepo("twice");
  auto again = Repository::Init(repo->path(), SampleConfig());
  ASSERT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(),
              HasSubstr(absl::StrCat(repo->path(), " already contains an arca repository")));
}

TEST(RepositoryInitTest, RefusesANonEmptyDirectoryOrAFile) {
  const std::string dir = NewDir("nonempty");
  fs::create_directories(dir);
  std::ofstream(dir + "/something") << "x";
  auto repo = Repository::Init(dir, SampleConfig());
  ASSERT_EQ(repo.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(repo.status().message(), HasSubstr(absl::StrCat(dir, " is not empty")));

  const std::string file = NewDir("afile");
  std::ofstream(file) << "x";
  repo = Repository::Init(file, SampleConfig());
  ASSERT_EQ(repo.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(repo.status().message(), HasSubstr(absl::StrCat(file, " is not a directory")));
}

TEST(RepositoryInitTest, AcceptsAnEmptyDirectory) {
  const std::string dir = NewDir("empty");
  fs::create_directories(dir);
  EXPECT_TRUE(Repository::Init(dir, SampleConfig()).ok());
}

TEST(RepositoryInitTest, RejectsInconsistentChunkerSizes) {
  v1::RepositoryConfig c = SampleConfig();
  c.mutable_payload_chunker()->set_min_size(8 << 20);
  auto repo = Repository::Init(NewDir("badchunker"), c);
  ASSERT_EQ(repo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(repo.status().message(),
              HasSubstr("payload chunker sizes must satisfy 0 < min <= avg <= max"));
}

TEST(RepositoryOpenTest, MissingRepositoryIsNotFoundWithTheInitCommand) {
  for (const std::string& dir : {NewDir("missing"), NewDir("emptydir")}) {
    if (absl::EndsWith(dir, "emptydir")) fs::create_directories(dir);
    auto repo = Repository::Open(dir);
    ASSERT_EQ(repo.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(repo.status().message(),
              absl::StrCat("no arca repository at ", dir, ": run `arca init --repo ", dir, "`"));
  }
}

TEST(RepositoryOpenTest, NewerFormatIsFailedPrecondition) {
  auto repo = NewRepo("toonew");
  const std::string config = repo->path() + "/config";
  std::string json = ReadFile(config);
  const size_t at = json.find("\"format_version\": 1");
  ASSERT_NE(at, std::string::npos);
  json.replace(at, 19, "\"format_version\": 3, \"a_future_field\": [1, 2]");
  WriteFile(config, json);
  auto opened = Repository::Open(repo->path());
  ASSERT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(),
              HasSubstr("repository format 3 is not supported by this arca (supports 1 and 2)"));
}

TEST(RepositoryOpenTest, Format2NeedsAKnownCipher) {
  auto repo = NewRepo("format2");
  const std::string config = repo->path() + "/config";
  std::string json = ReadFile(config);
  json.replace(json.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  WriteFile(config, json);
  auto opened = Repository::Open(repo->path());
  ASSERT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("has encryption ''"));
}

TEST(EncryptedRepositoryTest, SnapshotFilesAreSealedAndNeedTheKey) {
  const std::string dir = ::testing::TempDir() + "/encrypted-repo";
  std::filesystem::remove_all(dir);
  v1::RepositoryConfig config;
  config.set_encryption(kEncryptionAes256Gcm);
  RepositorySecret secret;
  secret.password = "pw";
  auto key = MakeNewRepositoryKey(NewRepositoryId(), secret, {1024, 8, 1}, "test");
  ASSERT_TRUE(key.ok()) << key.status();
  auto repo = Repository::Init(dir, config, &*key);
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->config().format_version(), 2u);
  EXPECT_EQ((*repo)->config().chunker_seed(), 0u);
  EXPECT_EQ(ChunkingConfig((*repo)->config(), (*repo)->key()).chunker_seed(),
            key->key.ChunkerSeed());
  auto m = (*repo)->CommitSnapshot(Draft("h", "/src", kT0), "META-PLAINTEXT", "PAYLOAD-PLAINTEXT");
  ASSERT_TRUE(m.ok()) << m.status();
  for (const char* name : {"manifest.json", "metadata.aidx", "payload.aidx"}) {
    const std::string bytes = ReadFile(dir + "/snapshots/" + m->id() + "/" + name);
    EXPECT_TRUE(LooksSealed(AsBytes(bytes))) << name;
    EXPECT_EQ(bytes.find("PLAINTEXT"), std::string::npos) << name;
    EXPECT_EQ(bytes.find("\"host\""), std::string::npos) << name;
  }

  auto locked = Repository::Open(dir);
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE((*locked)->encrypted());
  auto no_key = (*locked)->LoadSnapshot(m->id());
  EXPECT_EQ(no_key.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_key.status().message(), HasSubstr("is encrypted and was not unlocked"));
  std::vector<std::string> problems;
  auto frames = (*locked)->CheckSnapshotFrames(&problems);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_EQ(*frames, 3u);
  EXPECT_TRUE(problems.empty());

  RepositorySecret wrong;
  wrong.password = "not it";
  EXPECT_EQ((*locked)->Unlock(wrong).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE((*locked)->Unlock(secret).ok());
  EXPECT_EQ((*locked)->unlocked_slot_id(), key->slot.id());
  auto loaded = (*locked)->LoadSnapshot(m->id());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->metadata_index, "META-PLAINTEXT");
  EXPECT_EQ(loaded->payload_index, "PAYLOAD-PLAINTEXT");
  EXPECT_EQ(loaded->manifest.host(), "h");

  // The last slot and the slot in use are never removed.
  EXPECT_EQ((*locked)->RemoveKeySlot(key->slot.id()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RepositoryOpenTest, CorruptConfigIsDataLossNamingTheFile) {
  auto repo = NewRepo("corruptconfig");
  const std::string config = repo->path() + "/config";
  const std::string good = ReadFile(config);
  for (const std::string& bad :
       {std::string("garbage"), good.substr(0, good.size() / 2), std::string(""), std::string("{}"),
        std::string("{\"format_version\": \"x\"}"), std::string("[1,2,3]"),
        std::string("\xff\xfe\x00", 3)}) {
    WriteFile(config, bad);
    auto opened = Repository::Open(repo->path());
    ASSERT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_THAT(opened.status().message(),
                HasSubstr(absl::StrCat("repository config ", config, " is corrupt")));
  }
}

TEST(RepositoryOpenTest, MissingChunkDirectoryIsDataLoss) {
  auto repo = NewRepo("nochunks");
  fs::remove_all(repo->path() + "/chunks");
  auto opened = Repository::Open(repo->path());
  ASSERT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(),
              HasSubstr(absl::StrCat("the repository at ", repo->path(), " is damaged")));
}

// ---------------------------------------------------------------------------
// Commit, list, load.

TEST(RepositorySnapshotTest, CommitThenListAndLoad) {
  auto repo = NewRepo("commit");
  const std::string chunk = "chunk bytes";
  ASSERT_TRUE(repo->chunks()->Put(Sha256(chunk), chunk).ok());
  // No explicit Flush: CommitSnapshot makes the chunks durable itself.
  auto m = repo->CommitSnapshot(Draft("myhost", "/usr/share/doc", kT0), "META", "PAYLOAD!");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->id(), "myhost_usr_share_doc/20240102T030405.123456789Z");
  EXPECT_EQ(m->group(), "myhost_usr_share_doc");
  EXPECT_EQ(m->format_version(), 1u);
  EXPECT_EQ(m->time_unix_ns(), kT0);
  EXPECT_EQ(m->repository_id(), repo->config().repository_id());
  ASSERT_EQ(m->indexes_size(), 2);
  EXPECT_EQ(m->indexes(0).name(), "metadata.aidx");
  EXPECT_EQ(m->indexes(0).size(), 4u);
  EXPECT_EQ(m->indexes(0).sha256(), Sha256("META").Hex());
  EXPECT_EQ(m->indexes(0).chunk_count(), 3u);  // kept from the caller
  EXPECT_EQ(m->indexes(0).stream_length(), 3000u);
  EXPECT_EQ(m->indexes(1).name(), "payload.aidx");
  EXPECT_EQ(m->indexes(1).stream(), v1::STREAM_KIND_PAYLOAD);
  EXPECT_EQ(m->indexes(1).size(), 8u);
  EXPECT_EQ(m->indexes(1).sha256(), Sha256("PAYLOAD!").Hex());
  EXPECT_EQ(m->indexes(1).chunk_count(), 5u);

  const std::string dir = repo->path() + "/snapshots/" + m->id();
  EXPECT_EQ(ReadFile(dir + "/metadata.aidx"), "META");
  EXPECT_EQ(ReadFile(dir + "/payload.aidx"), "PAYLOAD!");
  EXPECT_TRUE(fs::exists(dir + "/manifest.json"));
  EXPECT_TRUE(fs::exists(repo->local_chunks()->ChunkPath(Sha256(chunk))));
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_FALSE(absl::StartsWith(e.path().filename().string(), ".tmp-"));
    ++entries;
  }
  EXPECT_EQ(entries, 3);

  auto list = repo->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].SerializeAsString(), m->SerializeAsString());

  // A new Repository object (another process) sees the same.
  auto reopened = Repository::Open(repo->path()).value();
  auto loaded = reopened->LoadSnapshot(m->id());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->metadata_index, "META");
  EXPECT_EQ(loaded->payload_index, "PAYLOAD!");
  EXPECT_EQ(loaded->dir, dir);
  EXPECT_EQ(loaded->manifest.id(), m->id());
  EXPECT_EQ(loaded->manifest.options().at("compression"), "zstd");
  EXPECT_EQ(reopened->LoadSnapshot("latest")->manifest.id(), m->id());
}

TEST(RepositorySnapshotTest, SameTimeIsBumpedAndListIsOldestFirst) {
  auto repo = NewRepo("bump");
  auto a = repo->CommitSnapshot(Draft("h", "/src", kT0 + 5), "a", "a");
  auto b = repo->CommitSnapshot(Draft("h", "/src", kT0 + 5), "b", "b");
  auto c = repo->CommitSnapshot(Draft("h", "/src", kT0), "c", "c");
  auto d = repo->CommitSnapshot(Draft("other", "/src", kT0 + 1), "d", "d");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->id(), "h_src/20240102T030405.123456794Z");
  EXPECT_EQ(b->id(), "h_src/20240102T030405.123456795Z");
  EXPECT_EQ(b->time_unix_ns(), kT0 + 6);
  auto all = repo->ListSnapshots();
  ASSERT_TRUE(all.ok());
  std::vector<std::string> ids;
  for (const auto& m : *all) ids.push_back(m.id());
  EXPECT_EQ(ids, (std::vector<std::string>{c->id(), d->id(), a->id(), b->id()}));
  auto h = repo->ListSnapshots("h_src");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size(), 3u);
  EXPECT_TRUE(repo->ListSnapshots("no_such_group")->empty());
  EXPECT_EQ(repo->ListSnapshots("../x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RepositorySnapshotTest, CommitFillsTimeAndGroupWhenMissing) {
  auto repo = NewRepo("defaults");
  v1::Manifest draft = Draft("host", "/data", 0);
  draft.clear_group();
  draft.clear_indexes();  // entries are created when the caller gives none
  const int64_t before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto m = repo->CommitSnapshot(draft, "m", "p");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->group(), "host_data");
  EXPECT_GE(m->time_unix_ns(), before);
  EXPECT_TRUE(std::regex_match(m->id(), std::regex(R"(host_data/\d{8}T\d{6}\.\d{9}Z)"))) << m->id();
  ASSERT_EQ(m->indexes_size(), 2);
  EXPECT_EQ(m->indexes(0).stream(), v1::STREAM_KIND_METADATA);
  EXPECT_EQ(m->indexes(1).stream(), v1::STREAM_KIND_PAYLOAD);
  EXPECT_TRUE(repo->LoadSnapshot(m->id()).ok());
}

TEST(RepositorySnapshotTest, CommitRejectsBadGroupsAndTimes) {
  auto repo = NewRepo("badgroup");
  for (const char* g : {"../escape", "a/b", ".hidden"}) {
    v1::Manifest draft = Draft("h", "/s", kT0);
    draft.set_group(g);
    auto m = repo->CommitSnapshot(draft, "m", "p");
    ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << g;
    EXPECT_THAT(m.status().message(), HasSubstr("is not a valid snapshot group name"));
  }
  auto m = repo->CommitSnapshot(Draft("h", "/s", -5), "m", "p");
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("before 1970"));
  EXPECT_TRUE(repo->ListSnapshots()->empty());
}

TEST(RepositorySnapshotTest, IncompleteSnapshotIsInvisible) {
  auto repo = NewRepo("incomplete");
  auto done = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  ASSERT_TRUE(done.ok());
  // What a crash before the manifest rename leaves: indexes and a temp file.
  const std::string crashed = repo->path() + "/snapshots/h_s/20250101T000000.000000000Z";
  fs::create_directories(crashed);
  std::ofstream(crashed + "/metadata.aidx") << "m";
  std::ofstream(crashed + "/payload.aidx") << "p";
  std::ofstream(crashed + "/.tmp-0123456789abcdef") << "{\"format_version\": 1";
  auto list = repo->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(repo->ResolveSnapshotId("latest").value(), done->id());
  EXPECT_EQ(repo->ResolveSnapshotId("h_s/latest").value(), done->id());
  auto direct = repo->ResolveSnapshotId("h_s/20250101T000000.000000000Z");
  EXPECT_EQ(direct.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->LoadSnapshot("h_s/20250101T000000.000000000Z").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RepositorySnapshotTest, ResolveLatestGroupLatestAndUnknown) {
  auto repo = NewRepo("resolve");
  auto none = repo->ResolveSnapshotId("latest");
  ASSERT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      none.status().message(),
      HasSubstr(absl::StrCat("no snapshot 'latest' in ", repo->path(), ": run `arca snapshots")));
  auto a1 = repo->CommitSnapshot(Draft("a", "/x", kT0), "m", "p");
  auto b1 = repo->CommitSnapshot(Draft("b", "/x", kT0 + 10), "m", "p");
  auto a2 = repo->CommitSnapshot(Draft("a", "/x", kT0 + 5), "m", "p");
  ASSERT_TRUE(a1.ok() && b1.ok() && a2.ok());
  EXPECT_EQ(repo->ResolveSnapshotId("latest").value(), b1->id());
  EXPECT_EQ(repo->ResolveSnapshotId("a_x/latest").value(), a2->id());
  EXPECT_EQ(repo->ResolveSnapshotId(a1->id()).value(), a1->id());
  const std::vector<std::string> bad_ids = {"nope",
                                            "a_x/nope",
                                            "zz/latest",
                                            "a_x/20990101T000000.000000000Z",
                                            "../../etc/passwd",
                                            "a_x/../b_x/latest",
                                            "",
                                            "/",
                                            "a_x/",
                                            std::string("a_x/\0", 5)};
  for (const std::string& bad : bad_ids) {
    auto r = repo->ResolveSnapshotId(bad);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("no snapshot '"));
    EXPECT_THAT(r.status().message(),
                HasSubstr(absl::StrCat("' in ", repo->path(), ": run `arca snapshots")));
  }
  EXPECT_THAT(repo->ResolveSnapshotId("nope").status().message(), HasSubstr("'nope'"));
}

class LoadCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = NewRepo("corrupt");
    auto m =
        repo_->CommitSnapshot(Draft("h", "/s", kT0), "metadata index bytes", "payload index bytes");
    ASSERT_TRUE(m.ok());
    id_ = m->id();
    dir_ = repo_->path() + "/snapshots/" + id_;
  }
  absl::Status Load() { return repo_->LoadSnapshot(id_).status(); }

  std::unique_ptr<Repository> repo_;
  std::string id_, dir_;
};

TEST_F(LoadCorruptionTest, ModifiedIndexIsDataLoss) {
  std::string data = ReadFile(dir_ + "/payload.aidx");
  data[3] ^= 1;  // same size, different content
  WriteFile(dir_ + "/payload.aidx", data);
  absl::Status st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("snapshot ", id_, ": index file ", dir_,
                                                   "/payload.aidx has SHA-256")));
  EXPECT_THAT(st.message(), HasSubstr("(modified or corrupt)"));
}

TEST_F(LoadCorruptionTest, TruncatedIndexIsDataLoss) {
  WriteFile(dir_ + "/metadata.aidx", "metadata");
  absl::Status st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(),
              HasSubstr(absl::StrCat("snapshot ", id_, ": index file ", dir_,
                                     "/metadata.aidx has 8 bytes but the manifest says 20")));
}

TEST_F(LoadCorruptionTest, MissingIndexIsDataLoss) {
  fs::remove(dir_ + "/payload.aidx");
  absl::Status st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("snapshot ", id_, ": index file ", dir_,
                                                   "/payload.aidx is missing")));
}

TEST_F(LoadCorruptionTest, CorruptManifestIsDataLossNamingTheFile) {
  const std::string path = dir_ + "/manifest.json";
  const std::string good = ReadFile(path);
  for (const std::string& bad : {good.substr(0, good.size() - 10), std::string("not json"),
                                 std::string(""), std::string("{\"id\": 5}")}) {
    WriteFile(path, bad);
    absl::Status st = Load();
    ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("manifest ", path, " is corrupt")));
    // Listing does not skip it silently either.
    auto list = repo_->ListSnapshots();
    ASSERT_EQ(list.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(list.status().message(), HasSubstr(path));
  }
}

TEST_F(LoadCorruptionTest, ManifestOfAnotherSnapshotOrIndexNameEscapeIsDataLoss) {
  const std::string path = dir_ + "/manifest.json";
  const std::string good = ReadFile(path);
  std::string moved = good;
  moved.replace(moved.find(id_), id_.size(), "h_s/20000101T000000.000000000Z");
  WriteFile(path, moved);
  absl::Status st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("names snapshot 'h_s/20000101T000000.000000000Z'"));

  std::string escape = good;
  escape.replace(escape.find("\"payload.aidx\""), 14, "\"../../../config\"");
  WriteFile(path, escape);
  st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("names an invalid payload index file"));
}

TEST_F(LoadCorruptionTest, ManifestWithoutAnIndexIsDataLoss) {
  auto m = ManifestFromJson(ReadFile(dir_ + "/manifest.json"), "x").value();
  m.mutable_indexes()->RemoveLast();
  WriteFile(dir_ + "/manifest.json", ManifestToJson(m).value());
  absl::Status st = Load();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("lists no payload index"));
}

// ---------------------------------------------------------------------------
// Group names.

TEST(GroupNameTest, ReadableForOrdinaryPaths) {
  EXPECT_EQ(Repository::GroupName("myhost", "/usr/share/doc"), "myhost_usr_share_doc");
  EXPECT_EQ(Repository::GroupName("web-1.example.com", "/"), "web-1.example.com_");
  EXPECT_EQ(Repository::GroupName("h", "/a_b"), "h_a%5Fb");
  EXPECT_EQ(Repository::GroupName("h", "/a/b"), "h_a_b");
  EXPECT_EQ(Repository::GroupName("h", "rel/dir"), "h+rel_dir");
  EXPECT_EQ(Repository::GroupName("h", "/x y%+"), "h_x%20y%25%2B");
  EXPECT_EQ(Repository::GroupName(".h", "/s"), "%2Eh_s");
}

TEST(GroupNameTest, InjectiveAndAlwaysAValidDirectoryName) {
  const std::vector<std::string> hosts = {"",   "a", "a_b", "a/b", "a%5Fb", "a+b", ".",
                                          "..", "h", "h_",  "_h",  "%",     "é",   "a b"};
  const std::vector<std::string> sources = {
      "",      "/",         "//",  "b",  "/b", "b/c", "/b/c", "/b_c", "_b",
      "/_b",   "/b%5Fc",    "%2F", "/+", "+",  "/..", "/.",   "/é/ü", std::string("/\xff\x00", 3),
      "/a\nb", "/trailing/"};
  std::map<std::string, std::pair<std::string, std::string>> seen;
  for (const auto& h : hosts) {
    for (const auto& s : sources) {
      const std::string g = Repository::GroupName(h, s);
      auto [it, fresh] = seen.emplace(g, std::make_pair(h, s));
      EXPECT_TRUE(fresh) << "(" << h << ", " << s << ") and (" << it->second.first << ", "
                         << it->second.second << ") both give " << g;
      EXPECT_FALSE(g.empty());
      EXPECT_NE(g[0], '.') << g;
      EXPECT_EQ(g.find('/'), std::string::npos) << g;
      EXPECT_EQ(g.find('\0'), std::string::npos) << g;
      EXPECT_LE(g.size(), 255u);
      for (char c : g)
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-%+~", c)) << g;
    }
  }
}

TEST(GroupNameTest, LongNamesAreCutWithAHash) {
  const std::string a = "/" + std::string(300, 'x') + "a";
  const std::string b = "/" + std::string(300, 'x') + "b";
  const std::string ga = Repository::GroupName("h", a);
  const std::string gb = Repository::GroupName("h", b);
  EXPECT_EQ(ga.size(), 160u + 1 + 32);
  EXPECT_NE(ga, gb);
  EXPECT_EQ(ga.substr(0, 161), "h_" + std::string(158, 'x') + "~");
  // Usable as a group.
  auto repo = NewRepo("longgroup");
  v1::Manifest draft = Draft("h", a, kT0);
  auto m = repo->CommitSnapshot(draft, "m", "p");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->group(), ga);
}

// ---------------------------------------------------------------------------
// Space, ratio, locks, faults.

TEST(RepositoryTest, FreeBytesIsPositive) {
  auto repo = NewRepo("free");
  auto free = repo->FreeBytes();
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_GT(*free, 0u);
}

TEST(RepositoryTest, ObservedCompressionRatioUsesTheNewestSnapshotsThatStoredData) {
  auto repo = NewRepo("ratio");
  EXPECT_DOUBLE_EQ(repo->ObservedCompressionRatio().value(), 1.0);
  ASSERT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0, 1000, 500), "m", "p").ok());
  EXPECT_DOUBLE_EQ(repo->ObservedCompressionRatio().value(), 0.5);
  ASSERT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0 + 1, 1000, 300), "m", "p").ok());
  EXPECT_DOUBLE_EQ(repo->ObservedCompressionRatio().value(), 0.4);
  // A fully deduplicated backup says nothing about compression.
  ASSERT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0 + 2, 0, 0), "m", "p").ok());
  EXPECT_DOUBLE_EQ(repo->ObservedCompressionRatio().value(), 0.4);
  // Only the newest 10 count.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0 + 10 + i, 100, 90), "m", "p").ok());
  }
  EXPECT_DOUBLE_EQ(repo->ObservedCompressionRatio().value(), 0.9);
}

TEST(RepositoryTest, LockForWriteCreatesAndRemovesALockFile) {
  auto repo = NewRepo("locks");
  EXPECT_TRUE(repo->ListWriterLocks()->empty());
  std::string path;
  {
    auto lock = repo->LockForWrite("backup of h:/data\nwith \"quotes\"");
    ASSERT_TRUE(lock.ok()) << lock.status();
    path = (*lock)->path();
    EXPECT_TRUE(fs::exists(path));
    EXPECT_EQ(fs::path(path).parent_path(), fs::path(repo->path() + "/locks"));
    auto second = repo->LockForWrite("verify");
    ASSERT_TRUE(second.ok());
    auto locks = repo->ListWriterLocks();
    ASSERT_TRUE(locks.ok()) << locks.status();
    ASSERT_EQ(locks->size(), 2u);
    EXPECT_EQ((*locks)[0].path, path);
    EXPECT_EQ((*locks)[0].pid, getpid());
    EXPECT_EQ((*locks)[0].start_unix_ns, (*lock)->start_unix_ns());
    EXPECT_EQ((*locks)[0].description, "backup of h:/data\nwith \"quotes\"");
    EXPECT_FALSE((*locks)[0].host.empty());
    EXPECT_EQ((*locks)[1].description, "verify");
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(repo->ListWriterLocks()->empty());
}

// The pipeline's view: chunks go through a decorated store; a failing Put
// surfaces its status and nothing is committed.
absl::StatusOr<v1::Manifest> StoreAndCommit(Repository& repo, ChunkStore* store,
                                            const std::vector<std::string>& chunks) {
  for (const std::string& c : chunks) {
    absl::StatusOr<bool> put = store->Put(Sha256(c), c);
    if (!put.ok()) return put.status();
  }
  if (absl::Status st = store->Flush(); !st.ok()) return st;
  return repo.CommitSnapshot(Draft("h", "/s", 0), "m", "p");
}

TEST(RepositoryTest, InjectedPutAndFlushFailuresSurfaceAndCommitNothing) {
  auto repo = NewRepo("faults");
  FaultInjectionChunkStore faulty(repo->chunks());
  faulty.FailPutsAfter(2, absl::ResourceExhaustedError("no space left (injected)"));
  auto m = StoreAndCommit(*repo, &faulty, {"a", "b", "c", "d"});
  ASSERT_EQ(m.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m.status().message(), "no space left (injected)");
  EXPECT_EQ(faulty.puts(), 3u);
  EXPECT_TRUE(repo->ListSnapshots()->empty());

  faulty.ClearFaults();
  faulty.FailFlush(absl::UnavailableError("flush failed (injected)"));
  m = StoreAndCommit(*repo, &faulty, {"a", "b", "c", "d"});
  ASSERT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(repo->ListSnapshots()->empty());

  faulty.ClearFaults();
  m = StoreAndCommit(*repo, &faulty, {"a", "b", "c", "d"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(repo->ListSnapshots()->size(), 1u);
  EXPECT_EQ(repo->chunks()->Get(Sha256("d")).value(), "d");
}

// Root bypasses permission bits: the child drops its capabilities (staying
// uid 0, the owner) so that a read-only snapshots/ directory is enforced.
TEST(RepositoryTest, UnwritableSnapshotDirectoryFailsTheCommitCleanly) {
  auto repo = NewRepo("readonly");
  ASSERT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p").ok());
  const std::string gdir = repo->path() + "/snapshots/h_s";
  ASSERT_EQ(chmod(gdir.c_str(), 0555), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &header, data) != 0) _exit(2);
    auto m = repo->CommitSnapshot(Draft("h", "/s", kT0 + 1), "m", "p");
    bool ok = m.status().code() == absl::StatusCode::kPermissionDenied &&
              m.status().message().find(absl::StrCat("the repository at ", repo->path(),
                                                     " is not writable")) != std::string::npos;
    if (!ok) fprintf(stderr, "got: %s\n", m.status().ToString().c_str());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  chmod(gdir.c_str(), 0755);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop capabilities";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(repo->ListSnapshots()->size(), 1u);
}

// ---------------------------------------------------------------------------
// Forget.

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(RepositoryForgetTest, RemovesTheRecordAndNoChunk) {
  auto repo = NewRepo("forget");
  ASSERT_TRUE(repo->chunks()->Put(Sha256("c1"), "c1").ok());
  auto a = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  auto b = repo->CommitSnapshot(Draft("h", "/s", kT0 + 1), "m", "p");
  auto other = repo->CommitSnapshot(Draft("h", "/t", kT0), "m", "p");
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  const size_t chunks_before = CountFiles(repo->path() + "/chunks");
  ASSERT_EQ(chunks_before, 1u);

  ASSERT_TRUE(repo->ForgetSnapshot(a->id()).ok());
  auto list = repo->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id(), other->id());
  EXPECT_EQ((*list)[1].id(), b->id());
  EXPECT_FALSE(fs::exists(repo->path() + "/snapshots/" + a->id()));
  // Nothing is left in the group but the other snapshot: no hidden directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(repo->path() + "/snapshots/h_s")) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"20240102T030405.123456790Z"});
  EXPECT_EQ(CountFiles(repo->path() + "/chunks"), chunks_before);
  EXPECT_EQ(repo->chunks()->Get(Sha256("c1")).value(), "c1");
  EXPECT_TRUE(repo->LoadSnapshot(b->id()).ok());
  EXPECT_EQ(repo->LoadSnapshot(a->id()).status().code(), absl::StatusCode::kNotFound);

  // The last snapshot of a group: the group directory stays (a backup may be
  // creating a snapshot in it), and lists as empty.
  ASSERT_TRUE(repo->ForgetSnapshot(b->id()).ok());
  EXPECT_TRUE(fs::is_directory(repo->path() + "/snapshots/h_s"));
  EXPECT_TRUE(repo->ListSnapshots("h_s")->empty());
  EXPECT_EQ(repo->ResolveSnapshotId("h_s/latest").status().code(), absl::StatusCode::kNotFound);
  // A new backup of the group still works.
  EXPECT_TRUE(repo->CommitSnapshot(Draft("h", "/s", kT0 + 5), "m", "p").ok());
}

TEST(RepositoryForgetTest, MissingSnapshotIsNotFound) {
  auto repo = NewRepo("forgetmissing");
  auto a = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(repo->ForgetSnapshot(a->id()).ok());
  for (const std::string& id : {a->id(), std::string("h_s/20300101T000000.000000000Z"),
                                std::string("nogroup/20300101T000000.000000000Z")}) {
    absl::Status st = repo->ForgetSnapshot(id);
    EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << id;
    EXPECT_EQ(st.message(),
              absl::StrCat("no snapshot '", id, "' in ", repo->path(), ": run `arca snapshots`"));
  }
}

TEST(RepositoryForgetTest, MalformedIdsAreInvalidArgumentAndTouchNothing) {
  auto repo = NewRepo("forgetbad");
  auto a = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  ASSERT_TRUE(a.ok());
  for (const std::string& id :
       {std::string("latest"), std::string("h_s/latest"), std::string("h_s"), std::string(""),
        std::string("h_s/"), std::string("../h_s/20240102T030405.123456789Z"),
        std::string("h_s/20240102T030405.123456789Z/manifest.json"),
        std::string(".h/20240102T030405.123456789Z"), std::string("h_s/..")}) {
    absl::Status st = repo->ForgetSnapshot(id);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(st.message(), HasSubstr("is not a snapshot id")) << id;
  }
  EXPECT_EQ(repo->ListSnapshots()->size(), 1u);
}

TEST(RepositoryForgetTest, IncompleteSnapshotIsNotFoundAndLeftAlone) {
  auto repo = NewRepo("forgetincomplete");
  const std::string crashed = repo->path() + "/snapshots/h_s/20250101T000000.000000000Z";
  fs::create_directories(crashed);
  std::ofstream(crashed + "/metadata.aidx") << "m";
  absl::Status st = repo->ForgetSnapshot("h_s/20250101T000000.000000000Z");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(fs::exists(crashed + "/metadata.aidx"));
}

// What a crash between the rename and the deletion leaves (the rename is
// durable, the hidden directory still holds everything), and a deletion that
// stopped half-way: every reader ignores both.
TEST(RepositoryForgetTest, LeftoverHiddenDirectoriesAreIgnored) {
  auto repo = NewRepo("forgetcrash");
  auto a = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  auto b = repo->CommitSnapshot(Draft("h", "/s", kT0 + 1), "m", "p");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string gdir = repo->path() + "/snapshots/h_s";
  const std::string hidden = gdir + "/.forget-20240102T030405.123456789Z-0123456789abcdef";
  fs::rename(repo->path() + "/snapshots/" + a->id(), hidden);
  const std::string half = gdir + "/.forget-20240102T030405.123456790Z-fedcba9876543210";
  fs::create_directories(half);
  fs::copy_file(hidden + "/manifest.json", half + "/manifest.json");

  auto list = repo->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id(), b->id());
  EXPECT_EQ(repo->ResolveSnapshotId("latest").value(), b->id());
  EXPECT_EQ(repo->ResolveSnapshotId("h_s/latest").value(), b->id());
  EXPECT_EQ(repo->LoadSnapshot(a->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->ForgetSnapshot(a->id()).code(), absl::StatusCode::kNotFound);
  // Hidden names are not ids either.
  EXPECT_EQ(repo->ForgetSnapshot("h_s/.forget-20240102T030405.123456789Z-0123456789abcdef").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      repo->LoadSnapshot("h_s/.forget-20240102T030405.123456789Z-0123456789abcdef").status().code(),
      absl::StatusCode::kNotFound);
  // The time name is free again: a new snapshot at that time takes it.
  auto again = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id(), a->id());
  EXPECT_TRUE(fs::exists(hidden + "/manifest.json"));  // gc's to remove
}

TEST(RepositoryForgetTest, UnwritableGroupFailsNamingTheSnapshotAndKeepsIt) {
  auto repo = NewRepo("forgetreadonly");
  auto a = repo->CommitSnapshot(Draft("h", "/s", kT0), "m", "p");
  ASSERT_TRUE(a.ok());
  const std::string gdir = repo->path() + "/snapshots/h_s";
  ASSERT_EQ(chmod(gdir.c_str(), 0555), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &header, data) != 0) _exit(2);
    absl::Status st = repo->ForgetSnapshot(a->id());
    const std::string msg(st.message());
    bool ok = st.code() == absl::StatusCode::kPermissionDenied &&
              msg.find(absl::StrCat("forget snapshot ", a->id())) != std::string::npos &&
              msg.find(gdir) != std::string::npos &&
              msg.find(absl::StrCat("the repository at ", repo->path(), " is not writable")) !=
                  std::string::npos;
    if (!ok) fprintf(stderr, "got: %s\n", st.ToString().c_str());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  chmod(gdir.c_str(), 0755);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop capabilities";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(repo->ListSnapshots()->size(), 1u);
}

TEST(RepositoryForgetTest, ConcurrentForgetsOfOneSnapshotSucceedOnce) {
  auto repo = NewRepo("forgetrace");
  for (int round = 0; round < 20; ++round) {
    auto a = repo->CommitSnapshot(Draft("h", "/s", kT0 + round), "m", "p");
    ASSERT_TRUE(a.ok());
    std::vector<absl::Status> results(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] { results[i] = repo->ForgetSnapshot(a->id()); });
    }
    for (std::thread& t : threads) t.join();
    int ok = 0;
    for (const absl::Status& st : results) {
      if (st.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
      }
    }
    EXPECT_EQ(ok, 1);
  }
  EXPECT_TRUE(repo->ListSnapshots()->empty());
}

// ---------------------------------------------------------------------------
// JSON.

TEST(ManifestJsonTest, PrettyWithProtoFieldNamesAndRoundTrips) {
  v1::Manifest m = Draft("h", "/s", kT0, 10, 5);
  m.set_format_version(1);
  m.set_id("h_s/20240102T030405.123456789Z");
  auto json = ManifestToJson(m);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("{\n \"format_version\": 1,\n"));
  EXPECT_THAT(*json, HasSubstr("\"time_unix_ns\": \"1704164645123456789\""));
  EXPECT_THAT(*json, HasSubstr("\"bytes_new_stored\": \"5\""));
  EXPECT_THAT(*json, HasSubstr("\"stream\": \"STREAM_KIND_PAYLOAD\""));
  auto back = ManifestFromJson(*json, "m.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), m.SerializeAsString());
}

TEST(ManifestJsonTest, BadInputIsDataLossAndNewerFormatIsFailedPrecondition) {
  auto bad = ManifestFromJson("{\"format_version\": 1, \"indexes\": 3}", "/r/x/manifest.json");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().message(), HasSubstr("manifest /r/x/manifest.json is corrupt"));
  auto noversion = ManifestFromJson("{\"id\": \"a/b\"}", "n");
  ASSERT_EQ(noversion.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(noversion.status().message(), HasSubstr("no format_version"));
  auto newer = ManifestFromJson("{\"format_version\": 2, \"new_thing\": {}}", "n");
  ASSERT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr("has format 2, which is not supported"));
  // Unknown fields of the same version are ignored (additive changes).
  auto extra = ManifestFromJson("{\"format_version\": 1, \"id\": \"g/t\", \"later\": [1]}", "n");
  ASSERT_TRUE(extra.ok()) << extra.status();
  EXPECT_EQ(extra->id(), "g/t");
}

TEST(SeedCorpusTest, EverySeedParses) {
  for (const char* corpus : {"manifest_corpus", "config_corpus"}) {
    const fs::path dir = fs::path("libs/store/testdata") / corpus;
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string json = ReadFile(e.path());
      absl::Status st = std::string(corpus) == "manifest_corpus"
                            ? ManifestFromJson(json, e.path().string()).status()
                            : RepositoryConfigFromJson(json, e.path().string()).status();
      EXPECT_TRUE(st.ok()) << e.path() << ": " << st;
      ++files;
    }
    EXPECT_GE(files, 2) << corpus;
  }
}

}  // namespace
}  // namespace arca
