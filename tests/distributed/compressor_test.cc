// The compressor binary as a real process on loopback: round trips, every
// kind of bad request, and the server staying up (health SERVING) after each.
#include <random>
#include <string>
#include <vector>

#include "arca/v1/compressor.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/hash/digest.h"
#include "libs/rpc/status_convert.h"
#include "services/common/client_channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

using rpc::FromGrpcStatus;

std::string Compressor() { return Runfile("services/compressor/compressor"); }

std::string TestData(size_t n, uint32_t seed, bool compressible) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(compressible ? 'a' + rng() % 4 : rng());
  return s;
}

v1::CompressRequest Request(const std::string& data, v1::Codec codec, int level) {
  v1::CompressRequest r;
  r.set_codec(codec);
  r.set_level(level);
  r.mutable_chunk()->set_stream(v1::STREAM_KIND_METADATA);
  r.mutable_chunk()->mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  r.mutable_chunk()->set_data(data);
  return r;
}

class CompressorProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto p = ServiceProcess::Start(Compressor(), {"--insecure", "--threads", "2"});
    ASSERT_TRUE(p.ok()) << p.status();
    process_ = p->release();
  }
  static void TearDownTestSuite() {
    if (process_ != nullptr) {
      EXPECT_EQ(process_->Stop(), 0) << process_->Stderr();
      delete process_;
      process_ = nullptr;
    }
  }
  void SetUp() override {
    ASSERT_NE(process_, nullptr);
    auto channel = services::MakeChannel(process_->address(), {.insecure = true});
    ASSERT_TRUE(channel.ok());
    channel_ = *channel;
    stub_ = v1::Compressor::NewStub(channel_);
  }
  // The server is still up and healthy.
  void TearDown() override {
    absl::StatusOr<bool> serving = services::CheckServing(channel_, "", absl::Seconds(30));
    ASSERT_TRUE(serving.ok()) << serving.status() << "\n" << process_->Stderr();
    EXPECT_TRUE(*serving);
    EXPECT_EQ(process_->WaitExit(absl::ZeroDuration()), -1) << "the compressor exited";
  }

  absl::Status Compress(const std::vector<v1::CompressRequest>& requests,
                        std::vector<v1::Blob>* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto stream = stub_->Compress(&ctx);
    return rpc::FromGrpcStatus(RunBidi<v1::CompressRequest, v1::Blob>(stream, requests, out));
  }
  absl::Status Decompress(const std::vector<v1::Blob>& blobs, std::vector<v1::RawChunk>* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto stream = stub_->Decompress(&ctx);
    return rpc::FromGrpcStatus(RunBidi<v1::Blob, v1::RawChunk>(stream, blobs, out));
  }
  void ExpectRejected(const v1::CompressRequest& request, absl::StatusCode code,
                      const std::string& fragment) {
    std::vector<v1::Blob> out;
    absl::Status st = Compress({request}, &out);
    EXPECT_EQ(st.code(), code) << st;
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COMPRESSION) << st;
    EXPECT_TRUE(out.empty());
  }

  static ServiceProcess* process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Compressor::Stub> stub_;
};

ServiceProcess* CompressorProcessTest::process_ = nullptr;

TEST_F(CompressorProcessTest, RoundTripZstdXzNone) {
  for (auto [codec, level, expected] :
       {std::tuple{v1::CODEC_ZSTD, 3, Codec::kZstd}, std::tuple{v1::CODEC_XZ, 6, Codec::kXz},
        std::tuple{v1::CODEC_NONE, 0, Codec::kNone}}) {
    std::vector<std::string> datas;
    std::vector<v1::CompressRequest> requests;
    for (int i = 0; i < 12; ++i) {
      datas.push_back(TestData(1 + i * 100000, i, true));
      requests.push_back(Request(datas.back(), codec, level));
    }
    datas.push_back(TestData(4 << 20, 99, true));  // a full-size chunk
    requests.push_back(Request(datas.back(), codec, level));
    std::vector<v1::Blob> blobs;
    absl::Status st = Compress(requests, &blobs);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(blobs.size(), datas.size());
    for (size_t i = 0; i < blobs.size(); ++i) {
      EXPECT_EQ(blobs[i].ref().digest(), Sha256(datas[i]).Raw());
      auto header = ParseBlobHeader(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(blobs[i].data().data()), blobs[i].data().size()));
      ASSERT_TRUE(header.ok()) << header.status();
      if (datas[i].size() > 1000) EXPECT_EQ(header->codec, expected) << i;
    }
    std::vector<v1::RawChunk> chunks;
    st = Decompress(blobs, &chunks);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(chunks.size(), datas.size());
    for (size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(chunks[i].data(), datas[i]) << i;
      EXPECT_EQ(chunks[i].stream(), v1::STREAM_KIND_METADATA);
      EXPECT_EQ(chunks[i].ref().raw_length(), datas[i].size());
    }
  }
}

TEST_F(CompressorProcessTest, DigestMismatchIsDataLossWithTheDigest) {
  const std::string data = TestData(10000, 1, true);
  v1::CompressRequest r = Request(data, v1::CODEC_ZSTD, 3);
  r.mutable_chunk()->mutable_data()->at(5000) ^= 1;
  ExpectRejected(r, absl::StatusCode::kDataLoss,
                 "chunk " + Sha256(data).Hex() + ": bytes do not match the digest");
}

TEST_F(CompressorProcessTest, MissingFieldsAreInvalidArgument) {
  v1::CompressRequest r;
  r.set_codec(v1::CODEC_ZSTD);
  r.set_level(3);
  ExpectRejected(r, absl::StatusCode::kInvalidArgument, "without a chunk");
  r = Request("data", v1::CODEC_ZSTD, 3);
  r.mutable_chunk()->clear_ref();
  ExpectRejected(r, absl::StatusCode::kInvalidArgument, "missing or malformed digest");
  r = Request("data", v1::CODEC_ZSTD, 3);
  r.clear_codec();
  ExpectRejected(r, absl::StatusCode::kInvalidArgument, "no codec given");
  r = Request("", v1::CODEC_ZSTD, 3);
  ExpectRejected(r, absl::StatusCode::kInvalidArgument, "data is empty");
}

TEST_F(CompressorProcessTest, BadLevelIsInvalidArgument) {
  ExpectRejected(Request("data", v1::CODEC_ZSTD, 20), absl::StatusCode::kInvalidArgument, "20");
  ExpectRejected(Request("data", v1::CODEC_XZ, -1), absl::StatusCode::kInvalidArgument, "-1");
  ExpectRejected(Request("data", v1::CODEC_NONE, 1), absl::StatusCode::kInvalidArgument, "1");
  ExpectRejected(Request("data", static_cast<v1::Codec>(77), 1), absl::StatusCode::kInvalidArgument,
                 "unknown codec 77");
}

TEST_F(CompressorProcessTest, HugeChunkIsInvalidArgument) {
  ExpectRejected(Request(std::string(kMaxBlobRawLength + 1, 'z'), v1::CODEC_ZSTD, 3),
                 absl::StatusCode::kInvalidArgument, "limit of a chunk");
}

TEST_F(CompressorProcessTest, CorruptBlobIsDataLossNamingTheDigest) {
  const std::string data = TestData(100000, 3, true);
  std::vector<v1::Blob> blobs;
  ASSERT_TRUE(Compress({Request(data, v1::CODEC_ZSTD, 3)}, &blobs).ok());
  ASSERT_EQ(blobs.size(), 1u);
  blobs[0].mutable_data()->at(blobs[0].data().size() - 3) ^= 0x40;
  std::vector<v1::RawChunk> chunks;
  absl::Status st = Decompress(blobs, &chunks);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("blob " + Sha256(data).Hex()), std::string::npos) << st;
}

TEST(CompressorFlagsTest, RefusesPlaintextWithoutInsecure) {
  RunResult r = RunProgram({Compressor(), "--listen=127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("refusing to serve plaintext"), std::string::npos) << r.Describe();
  r = RunProgram({Compressor(), "--listen=127.0.0.1:0", "--insecure", "--threads", "many"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.Describe();
  r = RunProgram({Compressor(), "--listen=nonsense", "--insecure"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("HOST:PORT"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace arca::distributed
