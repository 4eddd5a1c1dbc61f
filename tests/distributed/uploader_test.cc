// The uploader binary as a real process on loopback, over a repository made
// by the real `arca` CLI: chunks in and out, bad blobs, missing chunks at
// commit, a good commit that `arca verify` accepts and `arca restore` reads
// back, an unwritable repository, and bad flags.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/hash/digest.h"
#include "libs/rpc/status_convert.h"
#include "libs/store/repository.h"
#include "services/common/client_channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

namespace fs = std::filesystem;
using rpc::FromGrpcStatus;

std::string Uploader() { return Runfile("services/uploader/uploader"); }
std::string Arca() { return Runfile("tools/arca/arca"); }

std::string TestData(size_t n, uint32_t seed, bool compressible) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(compressible ? 'a' + rng() % 8 : rng());
  return s;
}

void WriteFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

v1::Blob MakeBlob(const std::string& data) {
  auto encoded = EncodeBlob(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
      Codec::kZstd, 3);
  EXPECT_TRUE(encoded.ok());
  v1::Blob blob;
  blob.mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  blob.set_data(*encoded);
  return blob;
}

// Regular files under the repository's chunks/ directory.
int ChunkFileCount(const std::string& repo) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo + "/chunks")) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

void InitRepo(const std::string& dir) {
  RunResult r = RunProgram({Arca(), "init", "--repo", dir});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

class UploaderProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = NewTempDir("repo") + "/r";
    ASSERT_NO_FATAL_FAILURE(InitRepo(repo_));
    // Default flags: the full blob check (a blob under the wrong digest is
    // refused) and --max-clock-skew=10m; the frame opt-out is covered by
    // uploader_service_test.
    auto p = ServiceProcess::Start(Uploader(), {"--repo", repo_, "--insecure", "--threads", "2"});
    ASSERT_TRUE(p.ok()) << p.status();
    process_ = *std::move(p);
    auto channel = services::MakeChannel(process_->address(), {.insecure = true});
    ASSERT_TRUE(channel.ok());
    channel_ = *channel;
    stub_ = v1::Uploader::NewStub(channel_);
  }
  void TearDown() override {
    if (process_ == nullptr) return;
    absl::StatusOr<bool> serving = services::CheckServing(channel_, "", absl::Seconds(30));
    ASSERT_TRUE(serving.ok()) << serving.status() << "\n" << process_->Stderr();
    EXPECT_TRUE(*serving);
    EXPECT_EQ(process_->Stop(), 0) << process_->Stderr();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return ctx;
  }
  absl::Status Put(const std::vector<v1::Blob>& blobs, std::vector<v1::PutChunkAck>* acks) {
    auto ctx = Context();
    auto stream = stub_->PutChunks(ctx.get());
    return rpc::FromGrpcStatus(RunBidi<v1::Blob, v1::PutChunkAck>(stream, blobs, acks));
  }
  absl::Status Get(const std::vector<std::string>& digests, std::vector<v1::Blob>* out) {
    auto ctx = Context();
    v1::GetChunksRequest req;
    for (const auto& d : digests) req.add_digests(d);
    auto stream = stub_->GetChunks(ctx.get(), req);
    v1::Blob blob;
    while (stream->Read(&blob)) out->push_back(blob);
    return rpc::FromGrpcStatus(stream->Finish());
  }
  std::vector<bool> Has(const std::vector<std::string>& digests) {
    auto ctx = Context();
    v1::HasChunksRequest req;
    for (const auto& d : digests) req.add_digests(d);
    v1::HasChunksResponse resp;
    absl::Status st = rpc::FromGrpcStatus(stub_->HasChunks(ctx.get(), req, &resp));
    EXPECT_TRUE(st.ok()) << st;
    return {resp.present().begin(), resp.present().end()};
  }
  std::vector<v1::SnapshotInfo> List() {
    auto ctx = Context();
    v1::ListSnapshotsResponse resp;
    absl::Status st = rpc::FromGrpcStatus(stub_->ListSnapshots(ctx.get(), {}, &resp));
    EXPECT_TRUE(st.ok()) << st;
    return {resp.snapshots().begin(), resp.snapshots().end()};
  }
  absl::Status Commit(const v1::CommitSnapshotRequest& req, v1::CommitSnapshotResponse* resp) {
    auto ctx = Context();
    return rpc::FromGrpcStatus(stub_->CommitSnapshot(ctx.get(), req, resp));
  }

  std::string repo_;
  std::unique_ptr<ServiceProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Uploader::Stub> stub_;
};

TEST_F(UploaderProcessTest, PutThenHasAndGet) {
  std::vector<v1::Blob> blobs;
  std::vector<std::string> digests;
  for (int i = 0; i < 20; ++i) {
    blobs.push_back(MakeBlob(TestData(1000 + i * 50000, i, i % 2)));
    digests.push_back(blobs.back().ref().digest());
  }
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = Put(blobs, &acks);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(acks.size(), blobs.size());
  for (size_t i = 0; i < acks.size(); ++i) {
    EXPECT_EQ(acks[i].digest(), digests[i]);
    EXPECT_FALSE(acks[i].already_present());
    // An ack means durable: the chunk has its final name.
    const std::string hex = Digest::FromRaw(digests[i])->Hex();
    EXPECT_TRUE(
        fs::exists(repo_ + "/chunks/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex))
        << hex;
  }
  std::vector<std::string> query = digests;
  query.push_back(std::string(Sha256(std::string("absent")).Raw()));
  std::vector<bool> present = Has(query);
  ASSERT_EQ(present.size(), query.size());
  for (size_t i = 0; i < digests.size(); ++i) EXPECT_TRUE(present[i]);
  EXPECT_FALSE(present.back());

  std::vector<v1::Blob> got;
  st = Get(digests, &got);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(got.size(), blobs.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].ref().digest(), digests[i]);
    EXPECT_EQ(got[i].data(), blobs[i].data());
  }
  // A second replica storing the same chunks: idempotent.
  acks.clear();
  ASSERT_TRUE(Put(blobs, &acks).ok());
  for (const auto& ack : acks) EXPECT_TRUE(ack.already_present());
}

TEST_F(UploaderProcessTest, BlobNotDecodingToItsDigestIsDataLossAndNotStored) {
  const std::string data = TestData(30000, 5, true);
  v1::Blob blob = MakeBlob(data);
  blob.mutable_data()->at(blob.data().size() / 2) ^= 0x01;
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = Put({blob}, &acks);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find(Sha256(data).Hex()), std::string::npos) << st;
  EXPECT_TRUE(acks.empty());
  EXPECT_FALSE(Has({blob.ref().digest()})[0]);
  const std::string hex = Sha256(data).Hex();
  EXPECT_FALSE(
      fs::exists(repo_ + "/chunks/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex));

  // A forged blob: frame-valid (header, CRC32C fine) but of other content,
  // under a victim's digest. Refused with the default flags.
  const std::string victim = "the victim's content";
  v1::Blob swapped = MakeBlob("the attacker's content");
  swapped.mutable_ref()->set_digest(std::string(Sha256(victim).Raw()));
  swapped.mutable_ref()->set_raw_length(0);
  st = Put({swapped}, &acks);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("blob " + Sha256(victim).Hex() + ": "), std::string::npos) << st;
  EXPECT_NE(st.message().find("not stored"), std::string::npos) << st;
  EXPECT_TRUE(acks.empty());
  EXPECT_FALSE(Has({swapped.ref().digest()})[0]);
  EXPECT_EQ(ChunkFileCount(repo_), 0);
}

TEST_F(UploaderProcessTest, FutureDatedCommitIsRefusedWithTheCommitPhase) {
  v1::CommitSnapshotRequest commit;
  commit.set_host("testhost");
  commit.set_source("/data");
  commit.mutable_manifest()->set_time_unix_ns(
      absl::ToUnixNanos(absl::FromCivil(absl::CivilSecond(2255, 1, 1), absl::UTCTimeZone())));
  v1::CommitSnapshotResponse response;
  absl::Status st = Commit(commit, &response);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_COMMIT) << st;
  EXPECT_EQ(ExitCodeOf(st), ExitCode::kUpload) << st;
  EXPECT_NE(st.message().find("the snapshot's time 2255-01-01T00:00:00.000Z"), std::string::npos)
      << st;
  EXPECT_NE(st.message().find("--max-clock-skew=10m"), std::string::npos) << st;
  EXPECT_TRUE(List().empty());
}

// Lock files under REPO/locks/.
std::vector<std::string> LockFiles(const std::string& repo) {
  std::vector<std::string> out;
  if (!fs::exists(repo + "/locks")) return out;
  for (const auto& e : fs::directory_iterator(repo + "/locks")) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

TEST_F(UploaderProcessTest, HoldWriteKeepsALockWhileTheCallIsOpen) {
  ASSERT_TRUE(LockFiles(repo_).empty());
  auto ctx = Context();
  v1::HoldWriteRequest req;
  req.set_job_id("job-1");
  req.set_description("backup of h:/src");
  auto stream = stub_->HoldWrite(ctx.get(), req);
  v1::HoldWriteEvent event;
  ASSERT_TRUE(stream->Read(&event)) << FromGrpcStatus(stream->Finish());
  EXPECT_GT(event.start_unix_ns(), 0);
  std::vector<std::string> locks = LockFiles(repo_);
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0], event.lock());
  EXPECT_NE(ReadFile(repo_ + "/locks/" + locks[0]).find("backup of h:/src"), std::string::npos);
  // Still held a while later.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(LockFiles(repo_).size(), 1u);
  // Ending the call releases it.
  ctx->TryCancel();
  stream->Finish();
  for (int i = 0; i < 100 && !LockFiles(repo_).empty(); ++i) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(LockFiles(repo_).empty());
}

TEST_F(UploaderProcessTest, GetChunksOfUnknownDigestIsNotFound) {
  const std::string missing(Sha256(std::string("nobody stored this")).Raw());
  std::vector<v1::Blob> got;
  absl::Status st = Get({missing}, &got);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find(Digest::FromRaw(missing)->Hex()), std::string::npos) << st;
  EXPECT_TRUE(got.empty());
}

// A real snapshot made by `arca backup` elsewhere is replayed through the
// uploader: its blobs via PutChunks, its indexes and manifest via
// CommitSnapshot. First with one chunk missing (refused, nothing visible),
// then complete; `arca verify` and `arca restore` then work on the
// uploader's repository.
TEST_F(UploaderProcessTest, ReplayedSnapshotCommitsVerifiesAndRestores) {
  const std::string base = NewTempDir("replay");
  const std::string source = base + "/src";
  WriteFile(source + "/small.txt", "hello\n");
  WriteFile(source + "/dir/sub/text.txt", TestData(200000, 1, true));
  WriteFile(source + "/dir/random.bin", TestData(3 << 20, 2, false));
  WriteFile(source + "/big.txt", TestData(9 << 20, 3, true));
  WriteFile(source + "/dir/empty", "");
  fs::create_directories(source + "/emptydir");
  fs::create_symlink("dir/sub/text.txt", source + "/link");
  const std::string source_repo = base + "/source-repo";
  ASSERT_NO_FATAL_FAILURE(InitRepo(source_repo));
  RunResult backup = RunProgram({Arca(), "backup", source, "--repo", source_repo});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe();

  auto src = Repository::Open(source_repo);
  ASSERT_TRUE(src.ok()) << src.status();
  auto snapshot = (*src)->LoadSnapshot("latest");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  std::vector<Digest> digests;
  absl::flat_hash_set<Digest> seen;
  for (auto [bytes, kind] : {std::pair{&snapshot->metadata_index, v1::STREAM_KIND_METADATA},
                             std::pair{&snapshot->payload_index, v1::STREAM_KIND_PAYLOAD}}) {
    auto index = ChunkIndex::Decode(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
        kind, "replay");
    ASSERT_TRUE(index.ok()) << index.status();
    for (const IndexEntry& e : index->entries()) {
      if (seen.insert(e.digest).second) digests.push_back(e.digest);
    }
  }
  ASSERT_GE(digests.size(), 3u);
  std::vector<v1::Blob> blobs;
  for (const Digest& d : digests) {
    auto data = (*src)->chunks()->Get(d);
    ASSERT_TRUE(data.ok()) << data.status();
    v1::Blob blob;
    blob.mutable_ref()->set_digest(std::string(d.Raw()));
    blob.set_data(*data);
    blobs.push_back(std::move(blob));
  }

  v1::CommitSnapshotRequest commit;
  commit.set_job_id("replay-1");
  *commit.mutable_manifest() = snapshot->manifest;
  commit.mutable_metadata_index()->set_stream(v1::STREAM_KIND_METADATA);
  commit.mutable_metadata_index()->set_data(snapshot->metadata_index);
  commit.mutable_payload_index()->set_stream(v1::STREAM_KIND_PAYLOAD);
  commit.mutable_payload_index()->set_data(snapshot->payload_index);

  // Everything but the last chunk: the commit is refused, nothing is visible.
  std::vector<v1::PutChunkAck> acks;
  std::vector<v1::Blob> all_but_last(blobs.begin(), blobs.end() - 1);
  absl::Status st = Put(all_but_last, &acks);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(acks.size(), all_but_last.size());
  v1::CommitSnapshotResponse response;
  st = Commit(commit, &response);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find(digests.back().Hex()), std::string::npos) << st;
  EXPECT_EQ(ExitCodeOf(st), ExitCode::kUpload);
  EXPECT_TRUE(List().empty());
  for (const auto& e : fs::recursive_directory_iterator(repo_ + "/snapshots")) {
    EXPECT_NE(e.path().filename(), "manifest.json") << e.path();
  }

  acks.clear();
  st = Put({blobs.back()}, &acks);
  ASSERT_TRUE(st.ok()) << st;
  st = Commit(commit, &response);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(response.snapshot().id(), snapshot->manifest.id());  // same group and time
  std::vector<v1::SnapshotInfo> list = List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id(), response.snapshot().id());
  EXPECT_EQ(list[0].stats().files(), snapshot->manifest.stats().files());

  RunResult verify = RunProgram({Arca(), "verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  const std::string target = base + "/restored";
  RunResult restore = RunProgram({Arca(), "restore", "latest", target, "--repo", repo_});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  for (const char* f :
       {"small.txt", "dir/sub/text.txt", "dir/random.bin", "big.txt", "dir/empty"}) {
    EXPECT_EQ(ReadFile(target + "/" + f), ReadFile(source + "/" + f)) << f;
  }
  EXPECT_EQ(fs::read_symlink(target + "/link"), "dir/sub/text.txt");
  EXPECT_TRUE(fs::is_directory(target + "/emptydir"));
}

TEST_F(UploaderProcessTest, UnwritableRepositoryFailsWithTheUploadPhase) {
  fs::rename(repo_ + "/chunks", repo_ + "/chunks.away");
  WriteFile(repo_ + "/chunks", "a file where the chunk directory was\n");
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = Put({MakeBlob(TestData(5000, 8, true))}, &acks);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(PhaseOf(st), v1::PHASE_UPLOAD) << st;
  EXPECT_EQ(ExitCodeOf(st), ExitCode::kUpload) << st;
  EXPECT_NE(st.message().find(repo_), std::string::npos) << st;
  EXPECT_TRUE(acks.empty());
}

TEST(UploaderFlagsTest, MissingRepositoryExits4AndNoRepoFlagExits2) {
  const std::string dir = NewTempDir("norepo") + "/missing";
  RunResult r = RunProgram({Uploader(), "--repo", dir, "--listen=127.0.0.1:0", "--insecure"});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("no arca repository at " + dir), std::string::npos) << r.Describe();
  r = RunProgram({Uploader(), "--listen=127.0.0.1:0", "--insecure"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("--repo DIR is required"), std::string::npos) << r.Describe();
  r = RunProgram(
      {Uploader(), "--repo", dir, "--listen=127.0.0.1:0", "--insecure", "--verify-blobs=some"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("invalid --verify-blobs 'some': expected full (the default) or frame"),
            std::string::npos)
      << r.Describe();
  r = RunProgram(
      {Uploader(), "--repo", dir, "--listen=127.0.0.1:0", "--insecure", "--max-clock-skew=soon"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("invalid --max-clock-skew 'soon': expected seconds (600) or a duration "
                       "with units (10m, 600s, 1h30m)"),
            std::string::npos)
      << r.Describe();
  // A repository URL of a scheme the uploader does not know: exit 2.
  r = RunProgram(
      {Uploader(), "--repo", "gs://bucket/prefix", "--listen=127.0.0.1:0", "--insecure"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("unknown scheme 'gs://'"), std::string::npos) << r.Describe();
  // s3:// with no endpoint: exit 2 naming what to set.
  r = RunProgram({Uploader(), "--repo", "s3://bucket/prefix", "--listen=127.0.0.1:0", "--insecure",
                  "--s3-endpoint", "ftp://x"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("--s3-endpoint"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace arca::distributed
