// The Uploader service in-process: every RPC through a real gRPC server
// (in-process channel) over a real repository in TEST_TMPDIR.
#include "services/uploader/uploader_service.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/blob/sealed_blob.h"
#include "libs/crypto/repository_key.h"
#include "libs/hash/digest.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/rpc/status_convert.h"
#include "libs/store/repository.h"
#include "prometheus/registry.h"
#include "services/common/testing.h"

namespace arca::services {
namespace {

using metrics::testing::GaugeReaches;
using metrics::testing::MetricValue;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 16);  // compressible
  return s;
}

v1::Blob MakeBlob(const std::string& data) {
  absl::StatusOr<std::string> encoded = EncodeBlob(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
      Codec::kZstd, 3);
  EXPECT_TRUE(encoded.ok());
  v1::Blob blob;
  blob.set_stream(v1::STREAM_KIND_PAYLOAD);
  blob.mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  blob.mutable_ref()->set_raw_length(data.size());
  blob.set_data(*encoded);
  return blob;
}

std::string Hex(const std::string& raw) { return Digest::FromRaw(raw)->Hex(); }

class UploaderServiceTest : public ::testing::Test {
 protected:
  // The default (full) check; UploaderServiceFrameTest the opt-out.
  virtual BlobCheck Check() const { return BlobCheck::kFull; }

  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/uploader_service_test." +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    v1::RepositoryConfig config;
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    auto repo = Repository::Init(dir_, config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(*repo);
    service_ = std::make_unique<UploaderService>(
        repo_.get(), UploaderOptions{.threads = 3,
                                     .max_in_flight = 4,
                                     .flush_delay = absl::Milliseconds(20),
                                     .blob_check = Check()});
    server_ =
        std::make_unique<testing::InProcessServer>(std::vector<grpc::Service*>{service_.get()});
    stub_ = v1::Uploader::NewStub(server_->channel());
  }
  void TearDown() override { server_.reset(); }

  grpc::Status Put(const std::vector<v1::Blob>& blobs, std::vector<v1::PutChunkAck>* acks) {
    grpc::ClientContext ctx;
    return testing::DriveBidi(stub_->PutChunks(&ctx).get(), blobs, acks);
  }

  grpc::Status Get(const std::vector<std::string>& digests, std::vector<v1::Blob>* out) {
    grpc::ClientContext ctx;
    v1::GetChunksRequest req;
    for (const auto& d : digests) req.add_digests(d);
    auto stream = stub_->GetChunks(&ctx, req);
    v1::Blob blob;
    while (stream->Read(&blob)) out->push_back(blob);
    return stream->Finish();
  }

  std::vector<bool> Has(const std::vector<std::string>& digests) {
    grpc::ClientContext ctx;
    v1::HasChunksRequest req;
    for (const auto& d : digests) req.add_digests(d);
    v1::HasChunksResponse resp;
    grpc::Status st = stub_->HasChunks(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.present().begin(), resp.present().end()};
  }

  // A commit request whose indexes reference `datas` (payload) and `meta`.
  v1::CommitSnapshotRequest CommitRequest(const std::vector<std::string>& meta,
                                          const std::vector<std::string>& datas) {
    ChunkIndex mi, pi;
    for (const auto& d : meta) mi.Append(Sha256(d), d.size());
    for (const auto& d : datas) pi.Append(Sha256(d), d.size());
    v1::CommitSnapshotRequest req;
    req.set_host("testhost");
    req.set_source("/data");
    req.mutable_metadata_index()->set_stream(v1::STREAM_KIND_METADATA);
    req.mutable_metadata_index()->set_data(mi.Encode(v1::STREAM_KIND_METADATA));
    req.mutable_payload_index()->set_stream(v1::STREAM_KIND_PAYLOAD);
    req.mutable_payload_index()->set_data(pi.Encode(v1::STREAM_KIND_PAYLOAD));
    return req;
  }

  absl::Status CommitStatus(const v1::CommitSnapshotRequest& req,
                            v1::CommitSnapshotResponse* resp) {
    grpc::ClientContext ctx;
    return rpc::FromGrpcStatus(stub_->CommitSnapshot(&ctx, req, resp));
  }

  std::vector<v1::SnapshotInfo> List() {
    grpc::ClientContext ctx;
    v1::ListSnapshotsResponse resp;
    grpc::Status st = stub_->ListSnapshots(&ctx, v1::ListSnapshotsRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.snapshots().begin(), resp.snapshots().end()};
  }

  std::string dir_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<UploaderService> service_;
  std::unique_ptr<testing::InProcessServer> server_;
  std::unique_ptr<v1::Uploader::Stub> stub_;
};

TEST_F(UploaderServiceTest, PutThenHasAndGetInOrder) {
  std::vector<std::string> datas;
  std::vector<v1::Blob> blobs;
  for (int i = 0; i < 30; ++i) {
    datas.push_back(RandomBytes(1000 + i * 5000, i));
    blobs.push_back(MakeBlob(datas.back()));
  }
  std::vector<v1::PutChunkAck> acks;
  grpc::Status st = Put(blobs, &acks);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(acks.size(), blobs.size());
  std::vector<std::string> digests;
  for (size_t i = 0; i < acks.size(); ++i) {
    EXPECT_EQ(acks[i].digest(), blobs[i].ref().digest()) << "ack order broken at " << i;
    EXPECT_FALSE(acks[i].already_present());
    EXPECT_EQ(acks[i].stored_bytes(), blobs[i].data().size());
    digests.push_back(blobs[i].ref().digest());
    // Acked means durable: the chunk file exists under its final name.
    EXPECT_TRUE(std::filesystem::exists(
        repo_->local_chunks()->ChunkPath(*Digest::FromRaw(blobs[i].ref().digest()))));
  }
  std::string unknown(Sha256(std::string("never stored")).Raw());
  std::vector<std::string> query = digests;
  query.push_back(unknown);
  std::vector<bool> present = Has(query);
  ASSERT_EQ(present.size(), query.size());
  for (size_t i = 0; i < digests.size(); ++i) EXPECT_TRUE(present[i]);
  EXPECT_FALSE(present.back());

  std::vector<std::string> reversed(digests.rbegin(), digests.rend());
  std::vector<v1::Blob> got;
  st = Get(reversed, &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(got.size(), reversed.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const v1::Blob& want = blobs[blobs.size() - 1 - i];
    EXPECT_EQ(got[i].ref().digest(), want.ref().digest());
    EXPECT_EQ(got[i].ref().raw_length(), want.ref().raw_length());
    EXPECT_EQ(got[i].data(), want.data());
  }

  // Storing again is idempotent.
  acks.clear();
  ASSERT_TRUE(Put({blobs[0], blobs[1]}, &acks).ok());
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(acks[0].already_present());
  EXPECT_EQ(acks[0].stored_bytes(), 0u);
}

TEST_F(UploaderServiceTest, BlobNotMatchingItsDigestIsDataLossAndNotStored) {
  v1::Blob good = MakeBlob(RandomBytes(5000, 1));
  v1::Blob bad = MakeBlob(RandomBytes(5000, 2));
  bad.mutable_ref()->set_digest(std::string(Sha256(std::string("other")).Raw()));
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = rpc::FromGrpcStatus(Put({good, bad}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("blob " + Hex(bad.ref().digest())), std::string::npos) << st;
  EXPECT_NE(st.message().find("not stored"), std::string::npos) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_UNSPECIFIED);
  EXPECT_FALSE(Has({bad.ref().digest()})[0]);

  v1::Blob garbage = good;
  garbage.set_data("not a blob at all, clearly");
  acks.clear();
  st = rpc::FromGrpcStatus(Put({garbage}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("chunk " + Hex(good.ref().digest())), std::string::npos) << st;

  v1::Blob flipped = MakeBlob(RandomBytes(5000, 3));
  (*flipped.mutable_data())[40] ^= 0x10;
  acks.clear();
  st = rpc::FromGrpcStatus(Put({flipped}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_FALSE(Has({flipped.ref().digest()})[0]);
}

class UploaderServiceFrameTest : public UploaderServiceTest {
 protected:
  BlobCheck Check() const override { return BlobCheck::kFrame; }
};

TEST_F(UploaderServiceFrameTest, DamagedBlobsAreDataLossAndNotStored) {
  v1::Blob good = MakeBlob(RandomBytes(5000, 4));
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(rpc::FromGrpcStatus(Put({good}, &acks)).ok());
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].already_present());

  v1::Blob flipped = MakeBlob(RandomBytes(5000, 5));
  (*flipped.mutable_data())[40] ^= 0x10;
  acks.clear();
  absl::Status st = rpc::FromGrpcStatus(Put({flipped}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("blob " + Hex(flipped.ref().digest()) + ": payload CRC32C"),
            std::string::npos)
      << st;
  EXPECT_NE(st.message().find("not stored"), std::string::npos) << st;
  EXPECT_FALSE(Has({flipped.ref().digest()})[0]);

  v1::Blob garbage = MakeBlob(RandomBytes(5000, 6));
  garbage.set_data("not a blob at all, clearly");
  acks.clear();
  st = rpc::FromGrpcStatus(Put({garbage}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_FALSE(Has({garbage.ref().digest()})[0]);
}

TEST_F(UploaderServiceFrameTest, FrameCheckDoesNotBindTheBlobToItsDigest) {
  // The documented limit of the opt-out (BlobCheck::kFrame, which trusts
  // the compressor): a well-formed blob under another digest is stored;
  // only the default full check (below) or `arca verify` catch it.
  v1::Blob swapped = MakeBlob(RandomBytes(5000, 7));
  swapped.mutable_ref()->set_digest(std::string(Sha256(std::string("other")).Raw()));
  std::vector<v1::PutChunkAck> acks;
  EXPECT_TRUE(rpc::FromGrpcStatus(Put({swapped}, &acks)).ok());
  EXPECT_TRUE(Has({swapped.ref().digest()})[0]);
}

TEST(UploaderOptionsTest, TheDefaultBindsEveryBlobToItsDigest) {
  EXPECT_EQ(UploaderOptions{}.blob_check, BlobCheck::kFull);
  EXPECT_EQ(UploaderOptions{}.max_clock_skew, absl::Minutes(10));
}

TEST_F(UploaderServiceTest, FrameValidBlobOfOtherContentIsDataLossAndNotStored) {
  // A lying compressor's "garbage blob": a well-formed blob of other bytes
  // under the victim's digest.
  const std::string victim = RandomBytes(5000, 7);
  v1::Blob forged = MakeBlob(RandomBytes(5000, 77));
  forged.mutable_ref()->set_digest(std::string(Sha256(victim).Raw()));
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = rpc::FromGrpcStatus(Put({forged}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("blob " + Sha256(victim).Hex() + ": "), std::string::npos) << st;
  EXPECT_NE(st.message().find("not stored"), std::string::npos) << st;
  EXPECT_TRUE(acks.empty());
  EXPECT_FALSE(Has({forged.ref().digest()})[0]);
}

TEST_F(UploaderServiceTest, FutureDatedCommitIsRefusedAndWritesNothing) {
  const std::vector<std::string> meta = {"meta one"};
  const std::vector<std::string> payload = {"payload one"};
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({MakeBlob(meta[0]), MakeBlob(payload[0])}, &acks).ok());
  v1::CommitSnapshotRequest req = CommitRequest(meta, payload);
  // Issue 10's forged snapshot: dated 2255, it would be `latest` for ages.
  const absl::Time y2255 = absl::FromCivil(absl::CivilSecond(2255, 1, 1), absl::UTCTimeZone());
  req.mutable_manifest()->set_time_unix_ns(absl::ToUnixNanos(y2255));
  v1::CommitSnapshotResponse resp;
  absl::Status st = CommitStatus(req, &resp);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_COMMIT) << st;
  EXPECT_EQ(ExitCodeOf(st), ExitCode::kUpload) << st;
  EXPECT_NE(st.message().find("the snapshot's time 2255-01-01T00:00:00.000Z is "),
            std::string::npos)
      << st;
  EXPECT_NE(st.message().find("ahead of the uploader's clock ("), std::string::npos) << st;
  EXPECT_NE(st.message().find("more than --max-clock-skew=10m"), std::string::npos) << st;
  EXPECT_TRUE(List().empty());

  // Just beyond the skew: refused; within it (a clock a few minutes fast):
  // accepted.
  req.mutable_manifest()->set_time_unix_ns(absl::ToUnixNanos(absl::Now() + absl::Minutes(11)));
  EXPECT_EQ(CommitStatus(req, &resp).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(List().empty());
  req.mutable_manifest()->set_time_unix_ns(absl::ToUnixNanos(absl::Now() + absl::Minutes(5)));
  st = CommitStatus(req, &resp);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(UploaderServiceTest, FullCheckSkipsDecodingChunksAlreadyStored) {
  v1::Blob good = MakeBlob(RandomBytes(5000, 8));
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(rpc::FromGrpcStatus(Put({good}, &acks)).ok());
  // The same digest again with a damaged body: the stored chunk was checked
  // when it was written, so the replay is acknowledged as present.
  v1::Blob replay = good;
  (*replay.mutable_data())[40] ^= 0x10;
  acks.clear();
  ASSERT_TRUE(rpc::FromGrpcStatus(Put({replay}, &acks)).ok());
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].already_present());
}

TEST_F(UploaderServiceTest, MalformedPutsAreInvalidArgument) {
  v1::Blob blob = MakeBlob("abc");
  blob.mutable_ref()->clear_digest();
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = rpc::FromGrpcStatus(Put({blob}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("without a valid digest"), std::string::npos);
  blob = MakeBlob("abc");
  blob.clear_data();
  st = rpc::FromGrpcStatus(Put({blob}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  blob = MakeBlob("abc");
  blob.mutable_ref()->set_raw_length(99);
  st = rpc::FromGrpcStatus(Put({blob}, &acks));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("raw_length says 99"), std::string::npos);
}

TEST_F(UploaderServiceTest, GetChunksOfUnknownDigestIsNotFound) {
  v1::Blob blob = MakeBlob("stored");
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({blob}, &acks).ok());
  const std::string missing(Sha256(std::string("missing")).Raw());
  std::vector<v1::Blob> got;
  absl::Status st = rpc::FromGrpcStatus(Get({blob.ref().digest(), missing}, &got));
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find(Hex(missing)), std::string::npos) << st;
  EXPECT_LE(got.size(), 1u);

  got.clear();
  st = rpc::FromGrpcStatus(Get({"short"}, &got));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("digest #0 is 5 bytes"), std::string::npos);
  got.clear();
  EXPECT_TRUE(Get({}, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_F(UploaderServiceTest, HasChunksRejectsMalformedDigest) {
  grpc::ClientContext ctx;
  v1::HasChunksRequest req;
  req.add_digests(std::string(32, 'a'));
  req.add_digests("xyz");
  v1::HasChunksResponse resp;
  absl::Status st = rpc::FromGrpcStatus(stub_->HasChunks(&ctx, req, &resp));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("digest #1 is 3 bytes"), std::string::npos);
}

TEST_F(UploaderServiceTest, CommitWithMissingChunkFailsAndWritesNothing) {
  const std::string meta = "metadata chunk", payload = "payload chunk", absent = "absent";
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({MakeBlob(meta), MakeBlob(payload)}, &acks).ok());
  v1::CommitSnapshotResponse resp;
  absl::Status st = CommitStatus(CommitRequest({meta}, {payload, absent}), &resp);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find(Sha256(absent).Hex()), std::string::npos) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_COMMIT);
  EXPECT_TRUE(List().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/snapshots/testhost_data"));
}

TEST_F(UploaderServiceTest, BadCommitRequestsAreInvalidArgument) {
  const std::string meta = "m", payload = "p";
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({MakeBlob(meta), MakeBlob(payload)}, &acks).ok());
  v1::CommitSnapshotResponse resp;
  v1::CommitSnapshotRequest req = CommitRequest({meta}, {payload});
  req.mutable_payload_index()->mutable_data()->back() ^= 1;  // checksum
  absl::Status st = CommitStatus(req, &resp);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("payload_index"), std::string::npos) << st;

  req = CommitRequest({meta}, {payload});
  req.clear_metadata_index();
  EXPECT_EQ(CommitStatus(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  req = CommitRequest({meta}, {payload});
  std::swap(*req.mutable_metadata_index(), *req.mutable_payload_index());
  EXPECT_EQ(CommitStatus(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  req = CommitRequest({meta}, {payload});
  req.clear_host();
  st = CommitStatus(req, &resp);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("no host"), std::string::npos);
  req = CommitRequest({meta}, {payload});
  req.clear_source();
  EXPECT_EQ(CommitStatus(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  req = CommitRequest({meta}, {payload});
  req.set_group("../escape");
  EXPECT_EQ(CommitStatus(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(List().empty());
}

TEST_F(UploaderServiceTest, CommitKeepsValidLabelsRefusesInvalidOnesAndListFiltersByThem) {
  const std::string meta = "m", payload = "p";
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({MakeBlob(meta), MakeBlob(payload)}, &acks).ok());
  v1::CommitSnapshotResponse resp;
  // Invalid labels from the network: INVALID_ARGUMENT, nothing written.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"bad key", "x"}, {"env", "-x"}, {"", "v"}, {"Upper.Case/k", "v"}}) {
    v1::CommitSnapshotRequest req = CommitRequest({meta}, {payload});
    (*req.mutable_manifest()->mutable_labels())[key] = value;
    absl::Status st = CommitStatus(req, &resp);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << key << "=" << value << ": " << st;
    EXPECT_NE(st.message().find("manifest.labels"), std::string::npos) << st;
  }
  EXPECT_TRUE(List().empty());

  for (int i = 0; i < 2; ++i) {
    v1::CommitSnapshotRequest req = CommitRequest({meta}, {payload});
    req.mutable_manifest()->set_time_unix_ns(1700000000000000000 + i);
    (*req.mutable_manifest()->mutable_labels())["env"] = i == 0 ? "prod" : "dev";
    ASSERT_TRUE(CommitStatus(req, &resp).ok());
    EXPECT_EQ(resp.manifest().labels().at("env"), i == 0 ? "prod" : "dev");
    EXPECT_EQ(resp.snapshot().labels().at("env"), i == 0 ? "prod" : "dev");
  }
  std::vector<v1::SnapshotInfo> all = List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].labels().at("env"), "prod");
  for (int page_size : {0, 1}) {  // the unpaged and the paged path
    grpc::ClientContext ctx;
    v1::ListSnapshotsRequest req;
    req.set_page_size(page_size);
    (*req.mutable_labels())["env"] = "dev";
    v1::ListSnapshotsResponse list;
    ASSERT_TRUE(stub_->ListSnapshots(&ctx, req, &list).ok());
    ASSERT_EQ(list.snapshots_size(), 1) << page_size;
    EXPECT_EQ(list.snapshots(0).id(), all[1].id());
    EXPECT_TRUE(list.next_page_token().empty());

    grpc::ClientContext bad_ctx;
    (*req.mutable_labels())["bad key"] = "x";
    absl::Status st = rpc::FromGrpcStatus(stub_->ListSnapshots(&bad_ctx, req, &list));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  }
}

TEST_F(UploaderServiceTest, GoodCommitIsListedAndReadable) {
  const std::vector<std::string> meta = {"meta one", "meta two"};
  const std::vector<std::string> payload = {"payload one", "payload two", "payload one"};
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(
      Put({MakeBlob(meta[0]), MakeBlob(meta[1]), MakeBlob(payload[0]), MakeBlob(payload[1])}, &acks)
          .ok());
  v1::CommitSnapshotRequest req = CommitRequest(meta, payload);
  req.mutable_manifest()->set_time_unix_ns(1700000000123456789);
  req.mutable_manifest()->mutable_stats()->set_files(42);
  req.mutable_manifest()->add_warnings()->set_message("a warning");
  (*req.mutable_manifest()->mutable_options())["codec"] = "zstd";
  (*req.mutable_options())["level"] = "3";
  req.mutable_manifest()->set_repository_id("forged");  // ignored
  v1::CommitSnapshotResponse resp;
  absl::Status st = CommitStatus(req, &resp);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(resp.snapshot().id(), "testhost_data/20231114T221320.123456789Z");
  EXPECT_EQ(resp.manifest().repository_id(), repo_->config().repository_id());
  EXPECT_EQ(resp.manifest().stats().files(), 42u);
  EXPECT_EQ(resp.manifest().warnings_size(), 1);
  EXPECT_EQ(resp.manifest().options().at("codec"), "zstd");
  EXPECT_EQ(resp.manifest().options().at("level"), "3");
  ASSERT_EQ(resp.manifest().indexes_size(), 2);
  for (const auto& info : resp.manifest().indexes()) {
    if (info.stream() == v1::STREAM_KIND_PAYLOAD) {
      EXPECT_EQ(info.chunk_count(), 3u);
      EXPECT_EQ(info.stream_length(), 11u + 11 + 11);
    }
  }
  std::vector<v1::SnapshotInfo> list = List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id(), resp.snapshot().id());
  EXPECT_EQ(list[0].host(), "testhost");

  grpc::ClientContext ctx;
  v1::GetSnapshotRequest get;
  get.set_id("latest");
  v1::GetSnapshotResponse snap;
  ASSERT_TRUE(stub_->GetSnapshot(&ctx, get, &snap).ok());
  EXPECT_EQ(snap.snapshot().id(), resp.snapshot().id());
  EXPECT_EQ(snap.payload_index().data(), req.payload_index().data());
  EXPECT_EQ(snap.metadata_index().data(), req.metadata_index().data());
  EXPECT_NE(snap.manifest_json().find("\"files\""), std::string::npos);

  grpc::ClientContext ctx2;
  get.set_id("testhost_data/20990101T000000.000000000Z");
  absl::Status missing = rpc::FromGrpcStatus(stub_->GetSnapshot(&ctx2, get, &snap));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;

  grpc::ClientContext ctx3;
  v1::RepositoryConfig config;
  ASSERT_TRUE(stub_->GetConfig(&ctx3, v1::GetConfigRequest(), &config).ok());
  EXPECT_EQ(config.repository_id(), repo_->config().repository_id());
}

TEST_F(UploaderServiceTest, UnwritableRepositoryFailsThePutWithTheUploadPhase) {
  // REPO/chunks replaced by a file: every new chunk directory fails.
  std::filesystem::rename(dir_ + "/chunks", dir_ + "/chunks.away");
  { std::ofstream(dir_ + "/chunks") << "not a directory"; }
  std::vector<v1::PutChunkAck> acks;
  absl::Status st = rpc::FromGrpcStatus(Put({MakeBlob(RandomBytes(3000, 9))}, &acks));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(PhaseOf(st), v1::PHASE_UPLOAD) << st;
  EXPECT_EQ(ExitCodeOf(st), ExitCode::kUpload);
  EXPECT_NE(st.message().find(dir_), std::string::npos) << st;
  EXPECT_TRUE(acks.empty());
}

TEST_F(UploaderServiceFrameTest, MetricsCountWrittenDeduplicatedReadCommittedAndErrors) {
  const std::map<std::string, std::string> upload_err{{"phase", "upload"}, {"exit_code", "12"}};
  const std::map<std::string, std::string> restore_err{{"phase", "restore"}, {"exit_code", "13"}};
  const std::vector<std::string> names = {
      "arca_uploader_written_chunks_total",      "arca_uploader_written_bytes_total",
      "arca_uploader_deduplicated_chunks_total", "arca_uploader_deduplicated_bytes_total",
      "arca_uploader_read_chunks_total",         "arca_uploader_read_bytes_total",
      "arca_uploader_snapshots_committed_total"};
  auto read = [&] {
    std::vector<double> v;
    for (const auto& n : names) v.push_back(MetricValue(n));
    v.push_back(MetricValue("arca_uploader_errors_total", upload_err));
    v.push_back(MetricValue("arca_uploader_errors_total", restore_err));
    return v;
  };
  const std::vector<double> before = read();

  const std::string a = RandomBytes(7000, 21), b = RandomBytes(9000, 22);
  const v1::Blob blob_a = MakeBlob(a), blob_b = MakeBlob(b);
  std::vector<v1::PutChunkAck> acks;
  ASSERT_TRUE(Put({blob_a, blob_b}, &acks).ok());
  // The same blob again (another stream): already present, not written.
  ASSERT_TRUE(Put({blob_a}, &acks).ok());
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_TRUE(acks[2].already_present());
  std::vector<v1::Blob> got;
  ASSERT_TRUE(Get({blob_a.ref().digest(), blob_b.ref().digest()}, &got).ok());
  v1::CommitSnapshotResponse resp;
  ASSERT_TRUE(CommitStatus(CommitRequest({a}, {b}), &resp).ok());
  // A damaged blob (DATA_LOSS, no phase: counted as upload / 12) and a
  // missing chunk on GetChunks (NOT_FOUND: restore / 13).
  v1::Blob damaged = MakeBlob(RandomBytes(3000, 23));
  (*damaged.mutable_data())[damaged.data().size() - 1] ^= 1;
  EXPECT_EQ(rpc::FromGrpcStatus(Put({damaged}, &acks)).code(), absl::StatusCode::kDataLoss);
  got.clear();
  // Two missing chunks in one stream: one error.
  EXPECT_EQ(rpc::FromGrpcStatus(Get({std::string(Sha256(std::string("nope")).Raw()),
                                     std::string(Sha256(std::string("nope2")).Raw())},
                                    &got))
                .code(),
            absl::StatusCode::kNotFound);

  const std::vector<double> after = read();
  EXPECT_EQ(after[0] - before[0], 2);
  EXPECT_EQ(after[1] - before[1], blob_a.data().size() + blob_b.data().size());
  EXPECT_EQ(after[2] - before[2], 1);
  EXPECT_EQ(after[3] - before[3], blob_a.data().size());
  EXPECT_EQ(after[4] - before[4], 2);
  EXPECT_EQ(after[5] - before[5], blob_a.data().size() + blob_b.data().size());
  EXPECT_EQ(after[6] - before[6], 1);
  EXPECT_EQ(after[7] - before[7], 1);
  EXPECT_EQ(after[8] - before[8], 1);
  EXPECT_TRUE(GaugeReaches("arca_uploader_streams_running", 0));
  EXPECT_TRUE(GaugeReaches("arca_uploader_chunks_in_flight", 0));
}

// --- encrypted repositories (services/README.md, Encryption) -----------------------

// A blob named by the keyed id of `data` (what the chunker sends).
v1::Blob MakeKeyedBlob(const std::string& data, const RepositoryKey& key) {
  v1::Blob blob = MakeBlob(data);
  blob.mutable_ref()->set_digest(std::string(key.ChunkId(AsBytes(data)).Raw()));
  blob.set_keyed_id(true);
  return blob;
}

TEST_F(UploaderServiceTest, EncryptedPutChecksTheKeyedIdAndStoresSealed) {
  const RepositoryKey key = RepositoryKey::Generate();
  ChunkStore& store = *repo_->chunks();
  const std::string data = RandomBytes(6000, 41);
  v1::Blob good = MakeKeyedBlob(data, key);
  const std::string inner = good.data();
  absl::StatusOr<Digest> id = Digest::FromRaw(good.ref().digest());
  ASSERT_TRUE(id.ok());
  absl::StatusOr<v1::PutChunkAck> ack = CheckAndPut(store, good, BlobCheck::kFull, &key);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_FALSE(ack->already_present());
  absl::StatusOr<std::string> stored = store.Get(*id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(LooksSealed(AsBytes(*stored)));
  EXPECT_EQ(ack->stored_bytes(), stored->size()) << "the sealed size is counted";
  absl::StatusOr<std::string> opened = OpenChunkBlob(AsBytes(*stored), *id, &key);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, inner);
  // The id-only key (the chunker's) decodes and checks it.
  absl::StatusOr<RepositoryKey> id_key = RepositoryKey::FromIdKey(key.IdKey());
  ASSERT_TRUE(id_key.ok());
  absl::StatusOr<std::string> raw = DecodeOpenedChunkBlob(AsBytes(*opened), *id, &*id_key);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, data);

  // Named by its SHA-256 (a chunker that ignores the encryption): refused
  // even with keyed_id, and without it whatever the check.
  v1::Blob sha = MakeBlob(RandomBytes(6000, 42));
  for (BlobCheck check : {BlobCheck::kFull, BlobCheck::kFrame}) {
    absl::StatusOr<v1::PutChunkAck> r = CheckAndPut(store, sha, check, &key);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_NE(r.status().message().find("encrypted"), std::string::npos) << r.status();
  }
  sha.set_keyed_id(true);
  absl::StatusOr<v1::PutChunkAck> r = CheckAndPut(store, sha, BlobCheck::kFull, &key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  absl::StatusOr<Digest> sha_id = Digest::FromRaw(sha.ref().digest());
  EXPECT_FALSE(*store.Has(*sha_id)) << "not stored";
  // Another key's id: DataLoss, not stored.
  const RepositoryKey other = RepositoryKey::Generate();
  v1::Blob foreign = MakeKeyedBlob(RandomBytes(6000, 43), other);
  r = CheckAndPut(store, foreign, BlobCheck::kFull, &key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // keyed_id in a plaintext repository: refused.
  r = CheckAndPut(store, MakeKeyedBlob(RandomBytes(6000, 44), key), BlobCheck::kFull, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
}

TEST_F(UploaderServiceTest, GetChunkIdKeyOfAPlaintextRepositoryIsFailedPrecondition) {
  absl::StatusOr<v1::GetChunkIdKeyResponse> r = GetChunkIdKey(*repo_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  grpc::ClientContext ctx;
  v1::GetChunkIdKeyResponse resp;
  grpc::Status st = stub_->GetChunkIdKey(&ctx, v1::GetChunkIdKeyRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
}

}  // namespace
}  // namespace arca::services
