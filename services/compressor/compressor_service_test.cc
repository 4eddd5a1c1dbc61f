// The Compressor service in-process: every RPC through a real gRPC server
// (in-process channel), so the stream engine, ordering and error mapping are
// exercised without child processes (tests/distributed does those).
#include "services/compressor/compressor_service.h"

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/hash/crc32c.h"
#include "libs/hash/digest.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/rpc/status_convert.h"
#include "prometheus/registry.h"
#include "services/common/testing.h"

namespace arca::services {
namespace {

using metrics::testing::GaugeReaches;
using metrics::testing::MetricValue;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string TextBytes(size_t n, uint32_t seed) {
  std::string s;
  std::mt19937 rng(seed);
  while (s.size() < n) s += "line " + std::to_string(rng() % 1000) + " of some text\n";
  s.resize(n);
  return s;
}

v1::CompressRequest Request(const std::string& data, v1::Codec codec, int level) {
  v1::CompressRequest r;
  r.set_codec(codec);
  r.set_level(level);
  r.mutable_chunk()->set_stream(v1::STREAM_KIND_PAYLOAD);
  r.mutable_chunk()->mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  r.mutable_chunk()->mutable_ref()->set_stream_offset(7);
  r.mutable_chunk()->set_data(data);
  return r;
}

class CompressorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ =
        std::make_unique<CompressorService>(CompressorOptions{.threads = 3, .max_in_flight = 4});
    server_ =
        std::make_unique<testing::InProcessServer>(std::vector<grpc::Service*>{service_.get()});
    stub_ = v1::Compressor::NewStub(server_->channel());
  }
  void TearDown() override { server_.reset(); }

  grpc::Status Compress(const std::vector<v1::CompressRequest>& requests,
                        std::vector<v1::Blob>* out) {
    grpc::ClientContext ctx;
    return testing::DriveBidi(stub_->Compress(&ctx).get(), requests, out);
  }

  grpc::Status Decompress(const std::vector<v1::Blob>& blobs, std::vector<v1::RawChunk>* out) {
    grpc::ClientContext ctx;
    return testing::DriveBidi(stub_->Decompress(&ctx).get(), blobs, out);
  }

  void ExpectCompressFails(v1::CompressRequest request, absl::StatusCode code,
                           const std::string& fragment) {
    std::vector<v1::Blob> out;
    absl::Status st = rpc::FromGrpcStatus(Compress({request}, &out));
    EXPECT_EQ(st.code(), code) << st;
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COMPRESSION) << st;
    EXPECT_TRUE(out.empty());
  }

  std::unique_ptr<CompressorService> service_;
  std::unique_ptr<testing::InProcessServer> server_;
  std::unique_ptr<v1::Compressor::Stub> stub_;
};

TEST_F(CompressorServiceTest, RoundTripEveryCodecInOrder) {
  for (auto [codec, level] :
       {std::pair{v1::CODEC_ZSTD, 3}, std::pair{v1::CODEC_XZ, 1}, std::pair{v1::CODEC_NONE, 0}}) {
    std::vector<v1::CompressRequest> requests;
    std::vector<std::string> datas;
    for (int i = 0; i < 40; ++i) {
      const size_t n = 1 + (i * 7919) % 300000;
      datas.push_back(i % 2 ? RandomBytes(n, i) : TextBytes(n, i));
      requests.push_back(Request(datas.back(), codec, level));
    }
    std::vector<v1::Blob> blobs;
    grpc::Status st = Compress(requests, &blobs);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(blobs.size(), datas.size());
    for (size_t i = 0; i < blobs.size(); ++i) {
      EXPECT_EQ(blobs[i].ref().digest(), Sha256(datas[i]).Raw()) << "order broken at " << i;
      EXPECT_EQ(blobs[i].ref().raw_length(), datas[i].size());
      EXPECT_EQ(blobs[i].ref().stream_offset(), 7u);
      EXPECT_EQ(blobs[i].stream(), v1::STREAM_KIND_PAYLOAD);
      auto header = ParseBlobHeader(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(blobs[i].data().data()), blobs[i].data().size()));
      ASSERT_TRUE(header.ok());
      if (codec == v1::CODEC_NONE || i % 2 == 1) {
        EXPECT_EQ(header->codec, Codec::kNone);  // random data is stored as is
      } else if (datas[i].size() > 4096) {
        EXPECT_EQ(static_cast<int>(header->codec), static_cast<int>(codec));
      }
    }
    std::vector<v1::RawChunk> chunks;
    st = Decompress(blobs, &chunks);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(chunks.size(), datas.size());
    for (size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(chunks[i].data(), datas[i]);
      EXPECT_EQ(chunks[i].ref().digest(), Sha256(datas[i]).Raw());
    }
  }
}

TEST_F(CompressorServiceTest, DigestMismatchIsDataLossNamingTheDigest) {
  v1::CompressRequest r = Request("hello world", v1::CODEC_ZSTD, 3);
  const std::string hex = Sha256(std::string("hello world")).Hex();
  r.mutable_chunk()->set_data("hello wOrld");
  ExpectCompressFails(r, absl::StatusCode::kDataLoss, "chunk " + hex + ": bytes do not match");
}

TEST_F(CompressorServiceTest, ComputeDigestReturnsTheSha256AndChecksTheCrc) {
  const std::string data = RandomBytes(20000, 9);
  v1::CompressRequest r = Request(data, v1::CODEC_ZSTD, 3);
  r.mutable_chunk()->mutable_ref()->clear_digest();
  r.set_compute_digest(true);
  r.set_data_crc32c(Crc32c(data));
  std::vector<v1::Blob> out;
  ASSERT_TRUE(Compress({r}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ref().digest(), std::string(Sha256(data).Raw()));
  EXPECT_EQ(out[0].ref().raw_length(), data.size());
  absl::StatusOr<std::string> raw =
      DecodeBlob(AsBytes(out[0].data()), *Digest::FromRaw(out[0].ref().digest()));
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, data);

  // Damaged on its way: the CRC32C catches it.
  v1::CompressRequest damaged = r;
  (*damaged.mutable_chunk()->mutable_data())[100] ^= 0x01;
  ExpectCompressFails(damaged, absl::StatusCode::kDataLoss, "CRC32C is 0x");
  // Both a digest and compute_digest: one or the other.
  v1::CompressRequest both = Request(data, v1::CODEC_ZSTD, 3);
  both.set_compute_digest(true);
  both.set_data_crc32c(Crc32c(data));
  ExpectCompressFails(both, absl::StatusCode::kInvalidArgument, "send one of them");
}

TEST_F(CompressorServiceTest, CallerNamesBlobSkipsTheSha256AndChecksTheCrc) {
  const std::string data = RandomBytes(20000, 10);
  v1::CompressRequest r = Request(data, v1::CODEC_ZSTD, 3);
  r.mutable_chunk()->mutable_ref()->clear_digest();
  r.set_caller_names_blob(true);
  r.set_data_crc32c(Crc32c(data));
  std::vector<v1::Blob> out;
  ASSERT_TRUE(Compress({r}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ref().digest().empty());  // the caller names it
  EXPECT_EQ(out[0].ref().raw_length(), data.size());
  absl::StatusOr<std::string> raw = DecodeBlob(AsBytes(out[0].data()), Sha256(data));
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, data);

  v1::CompressRequest damaged = r;
  (*damaged.mutable_chunk()->mutable_data())[100] ^= 0x01;
  ExpectCompressFails(damaged, absl::StatusCode::kDataLoss, "CRC32C is 0x");
  v1::CompressRequest both = r;
  both.set_compute_digest(true);
  ExpectCompressFails(both, absl::StatusCode::kInvalidArgument, "send one of them");
  v1::CompressRequest named = Request(data, v1::CODEC_ZSTD, 3);
  named.set_caller_names_blob(true);
  named.set_data_crc32c(Crc32c(data));
  ExpectCompressFails(named, absl::StatusCode::kInvalidArgument, "send one of them");
}

TEST_F(CompressorServiceTest, BadRequestsAreInvalidArgument) {
  v1::CompressRequest good = Request("some data", v1::CODEC_ZSTD, 3);
  v1::CompressRequest r;
  r.set_codec(v1::CODEC_ZSTD);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "without a chunk");
  r = good;
  r.mutable_chunk()->mutable_ref()->clear_digest();
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "missing or malformed digest");
  r = good;
  r.mutable_chunk()->mutable_ref()->set_digest("short");
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "(5 bytes)");
  r = good;
  r.set_level(42);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "42");
  r = good;
  r.set_codec(v1::CODEC_UNSPECIFIED);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "no codec given");
  r = good;
  r.set_codec(static_cast<v1::Codec>(9));
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "unknown codec 9");
  r = Request("", v1::CODEC_ZSTD, 3);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "data is empty");
  r = good;
  r.mutable_chunk()->set_known(true);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "marked known");
  r = good;
  r.mutable_chunk()->mutable_ref()->set_raw_length(3);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "raw_length says 3");
  r = Request(std::string(kMaxBlobRawLength + 1, 'x'), v1::CODEC_ZSTD, 3);
  ExpectCompressFails(r, absl::StatusCode::kInvalidArgument, "limit of a chunk");
}

TEST_F(CompressorServiceTest, ErrorAfterGoodChunksEndsTheStream) {
  std::vector<v1::CompressRequest> requests;
  for (int i = 0; i < 10; ++i)
    requests.push_back(Request(TextBytes(1000 + i, i), v1::CODEC_ZSTD, 3));
  requests[6].mutable_chunk()->set_data("tampered");
  for (int i = 0; i < 10; ++i)
    requests.push_back(Request(TextBytes(2000 + i, i), v1::CODEC_ZSTD, 3));
  std::vector<v1::Blob> blobs;
  absl::Status st = rpc::FromGrpcStatus(Compress(requests, &blobs));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_LE(blobs.size(), 6u);  // nothing after the bad chunk
  for (size_t i = 0; i < blobs.size(); ++i) {
    EXPECT_EQ(blobs[i].ref().digest(), requests[i].chunk().ref().digest());
  }
  // The service still works.
  std::vector<v1::Blob> again;
  EXPECT_TRUE(Compress({Request("x", v1::CODEC_XZ, 6)}, &again).ok());
  EXPECT_EQ(again.size(), 1u);
}

TEST_F(CompressorServiceTest, DecompressCorruptBlobIsDataLoss) {
  std::vector<v1::Blob> blobs;
  ASSERT_TRUE(Compress({Request(TextBytes(50000, 1), v1::CODEC_ZSTD, 3)}, &blobs).ok());
  ASSERT_EQ(blobs.size(), 1u);
  const std::string hex = Digest::FromRaw(blobs[0].ref().digest())->Hex();
  v1::Blob bad = blobs[0];
  (*bad.mutable_data())[bad.data().size() / 2] ^= 1;
  std::vector<v1::RawChunk> out;
  absl::Status st = rpc::FromGrpcStatus(Decompress({bad}, &out));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("blob " + hex), std::string::npos) << st;

  bad = blobs[0];
  bad.mutable_ref()->set_raw_length(1);
  st = rpc::FromGrpcStatus(Decompress({bad}, &out));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("ref.raw_length says 1"), std::string::npos) << st;

  bad = blobs[0];
  bad.mutable_ref()->clear_digest();
  st = rpc::FromGrpcStatus(Decompress({bad}, &out));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  bad = blobs[0];
  bad.clear_data();
  st = rpc::FromGrpcStatus(Decompress({bad}, &out));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

TEST_F(CompressorServiceTest, ClientThatDoesNotReadIsThrottledNotBuffered) {
  // A client writes many chunks before reading anything: the server reads
  // only a bounded number ahead (flow control stalls the writer), then
  // everything arrives once the client reads.
  grpc::ClientContext ctx;
  auto stream = stub_->Compress(&ctx);
  const std::string data = RandomBytes(1 << 20, 5);
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 64; ++i) {
      if (!stream->Write(Request(data, v1::CODEC_NONE, 0))) break;
      ++written;
    }
    stream->WritesDone();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(written.load(), 64) << "64 MiB accepted without a single read";
  v1::Blob blob;
  int read = 0;
  while (stream->Read(&blob)) ++read;
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(read, 64);
}

TEST_F(CompressorServiceTest, CancelledStreamLeavesTheServiceWorking) {
  {
    grpc::ClientContext ctx;
    auto stream = stub_->Compress(&ctx);
    // The writer blocks once the server stops reading (bounded in flight);
    // cancelling releases it.
    std::thread writer([&] {
      for (int i = 0; i < 16; ++i) {
        if (!stream->Write(Request(TextBytes(200000, i), v1::CODEC_XZ, 6))) break;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ctx.TryCancel();
    writer.join();
    v1::Blob blob;
    while (stream->Read(&blob)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  std::vector<v1::Blob> blobs;
  EXPECT_TRUE(Compress({Request("after cancel", v1::CODEC_ZSTD, 1)}, &blobs).ok());
  EXPECT_EQ(blobs.size(), 1u);
}

TEST_F(CompressorServiceTest, EmptyStreamFinishesOk) {
  std::vector<v1::Blob> blobs;
  EXPECT_TRUE(Compress({}, &blobs).ok());
  EXPECT_TRUE(blobs.empty());
}

}  // namespace
}  // namespace arca::services

namespace arca::services {
namespace {

TEST_F(CompressorServiceTest, MetricsCountChunksBytesAndErrorsExactly) {
  const std::map<std::string, std::string> zstd_c{{"op", "compress"}, {"codec", "zstd"}};
  const std::map<std::string, std::string> none_c{{"op", "compress"}, {"codec", "none"}};
  const std::map<std::string, std::string> zstd_d{{"op", "decompress"}, {"codec", "zstd"}};
  const std::map<std::string, std::string> none_d{{"op", "decompress"}, {"codec", "none"}};
  const std::map<std::string, std::string> loss{{"phase", "compression"}, {"exit_code", "11"}};
  const std::map<std::string, std::string> corrupt{{"phase", "verification"}, {"exit_code", "8"}};
  auto read = [&] {
    return std::vector<double>{
        MetricValue("arca_compressor_chunks_total", zstd_c),
        MetricValue("arca_compressor_raw_bytes_total", zstd_c),
        MetricValue("arca_compressor_stored_bytes_total", zstd_c),
        MetricValue("arca_compressor_chunks_total", none_c),
        MetricValue("arca_compressor_raw_bytes_total", none_c),
        MetricValue("arca_compressor_stored_bytes_total", none_c),
        MetricValue("arca_compressor_incompressible_chunks_total", {{"codec", "zstd"}}),
        MetricValue("arca_compressor_chunks_total", zstd_d),
        MetricValue("arca_compressor_raw_bytes_total", zstd_d),
        MetricValue("arca_compressor_stored_bytes_total", zstd_d),
        MetricValue("arca_compressor_chunks_total", none_d),
        MetricValue("arca_compressor_stored_bytes_total", none_d),
        MetricValue("arca_compressor_errors_total", loss),
        MetricValue("arca_compressor_errors_total", corrupt),
    };
  };
  const std::vector<double> before = read();

  // 3 compressible chunks with zstd, 2 incompressible ones with zstd, 2 with none.
  std::vector<v1::CompressRequest> requests;
  double zstd_raw = 0, none_raw = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string data = i < 3 ? TextBytes(20000 + i, i) : RandomBytes(30000 + i, i);
    zstd_raw += data.size();
    requests.push_back(Request(data, v1::CODEC_ZSTD, 3));
  }
  for (int i = 0; i < 2; ++i) {
    const std::string data = TextBytes(5000 + i, 10 + i);
    none_raw += data.size();
    requests.push_back(Request(data, v1::CODEC_NONE, 0));
  }
  std::vector<v1::Blob> blobs;
  ASSERT_TRUE(Compress(requests, &blobs).ok());
  ASSERT_EQ(blobs.size(), 7u);
  double zstd_stored = 0, none_stored = 0, zstd_blob_stored = 0, raw_blob_stored = 0;
  int zstd_blobs = 0;
  for (size_t i = 0; i < blobs.size(); ++i) {
    (i < 5 ? zstd_stored : none_stored) += blobs[i].data().size();
    auto header = ParseBlobHeader(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(blobs[i].data().data()), blobs[i].data().size()));
    ASSERT_TRUE(header.ok());
    if (header->codec == Codec::kZstd) {
      ++zstd_blobs;
      zstd_blob_stored += blobs[i].data().size();
    } else {
      raw_blob_stored += blobs[i].data().size();
    }
  }
  ASSERT_EQ(zstd_blobs, 3);  // the text chunks

  // Decompress all of them: counted under the blobs' own codecs.
  std::vector<v1::RawChunk> chunks;
  ASSERT_TRUE(Decompress(blobs, &chunks).ok());
  ASSERT_EQ(chunks.size(), 7u);
  double zstd_blob_raw = 0;
  for (size_t i = 0; i < 3; ++i) zstd_blob_raw += chunks[i].data().size();

  // Chunks whose bytes do not match their digest: DATA_LOSS, phase
  // compression, exit 11, counted once for the stream they end.
  v1::CompressRequest bad = Request("hello world", v1::CODEC_ZSTD, 3);
  bad.mutable_chunk()->set_data("hello wOrld");
  std::vector<v1::Blob> none_out;
  EXPECT_EQ(rpc::FromGrpcStatus(Compress({bad, bad, bad}, &none_out)).code(),
            absl::StatusCode::kDataLoss);
  // A corrupt blob: DATA_LOSS on Decompress, verification / 8.
  v1::Blob damaged = blobs[0];
  (*damaged.mutable_data())[damaged.data().size() / 2] ^= 1;
  std::vector<v1::RawChunk> none;
  EXPECT_EQ(rpc::FromGrpcStatus(Decompress({damaged}, &none)).code(), absl::StatusCode::kDataLoss);

  const std::vector<double> after = read();
  std::vector<double> delta(after.size());
  for (size_t i = 0; i < after.size(); ++i) delta[i] = after[i] - before[i];
  EXPECT_EQ(delta[0], 5);  // compress zstd chunks (requested codec)
  EXPECT_EQ(delta[1], zstd_raw);
  EXPECT_EQ(delta[2], zstd_stored);
  EXPECT_EQ(delta[3], 2);  // compress none
  EXPECT_EQ(delta[4], none_raw);
  EXPECT_EQ(delta[5], none_stored);
  EXPECT_EQ(delta[6], 2);  // the random chunks were stored raw
  EXPECT_EQ(delta[7], 3);  // decompress zstd blobs
  EXPECT_EQ(delta[8], zstd_blob_raw);
  EXPECT_EQ(delta[9], zstd_blob_stored);
  EXPECT_EQ(delta[10], 4);  // decompress raw blobs (2 incompressible + 2 none)
  EXPECT_EQ(delta[11], raw_blob_stored);
  EXPECT_EQ(delta[12], 1);
  EXPECT_EQ(delta[13], 1);
  // Every stream has ended and nothing is queued.
  EXPECT_TRUE(GaugeReaches("arca_compressor_streams_running", 0));
  EXPECT_TRUE(GaugeReaches("arca_compressor_chunks_in_flight", 0));
}

TEST_F(CompressorServiceTest, InFlightGaugeCountsQueuedChunksOfAnOpenStream) {
  ASSERT_TRUE(GaugeReaches("arca_compressor_chunks_in_flight", 0));
  grpc::ClientContext ctx;
  auto stream = stub_->Compress(&ctx);
  // Three incompressible 2 MiB chunks written, none of the responses read:
  // flow control holds the first write, so the stream holds all three
  // (max_in_flight is 4) until the client reads.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(stream->Write(Request(RandomBytes(2 << 20, 40 + i), v1::CODEC_ZSTD, 3)));
  }
  EXPECT_TRUE(GaugeReaches("arca_compressor_streams_running", 1));
  EXPECT_TRUE(GaugeReaches("arca_compressor_chunks_in_flight", 3));
  stream->WritesDone();
  v1::Blob blob;
  int n = 0;
  while (stream->Read(&blob)) ++n;
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(n, 3);
  EXPECT_TRUE(GaugeReaches("arca_compressor_chunks_in_flight", 0));
  EXPECT_TRUE(GaugeReaches("arca_compressor_streams_running", 0));
}

// An encrypted repository's chunk: the keyed id is neither computed nor
// compared; the CRC32C is required instead; Decompress checks no id.
TEST(CompressorKeyedIdTest, KeyedIdIsNotComparedButTheCrcIs) {
  const std::string data = TextBytes(20000, 5);
  const Digest keyed = Sha256(std::string("not the chunk's SHA-256"));
  v1::CompressRequest req = Request(data, v1::CODEC_ZSTD, 3);
  req.mutable_chunk()->mutable_ref()->set_digest(std::string(keyed.Raw()));
  req.set_keyed_id(true);
  req.set_data_crc32c(Crc32c(AsBytes(data)));
  absl::StatusOr<v1::Blob> blob = CompressChunk(req);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(blob->keyed_id());
  EXPECT_EQ(blob->ref().digest(), keyed.Raw());

  v1::CompressRequest bad_crc = req;
  bad_crc.set_data_crc32c(Crc32c(AsBytes(data)) ^ 1);
  EXPECT_EQ(CompressChunk(bad_crc).status().code(), absl::StatusCode::kDataLoss);
  v1::CompressRequest compute = req;
  compute.mutable_chunk()->mutable_ref()->clear_digest();
  compute.set_compute_digest(true);
  EXPECT_EQ(CompressChunk(compute).status().code(), absl::StatusCode::kInvalidArgument);
  // Without keyed_id the same request is refused as before.
  v1::CompressRequest plain = req;
  plain.set_keyed_id(false);
  plain.set_data_crc32c(0);
  EXPECT_EQ(CompressChunk(plain).status().code(), absl::StatusCode::kDataLoss);

  absl::StatusOr<v1::RawChunk> raw = DecompressBlob(*blob);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->data(), data);
  v1::Blob unkeyed = *blob;
  unkeyed.set_keyed_id(false);
  EXPECT_EQ(DecompressBlob(unkeyed).status().code(), absl::StatusCode::kDataLoss);
  v1::Blob damaged = *blob;
  (*damaged.mutable_data())[damaged.data().size() / 2] ^= 1;
  EXPECT_EQ(DecompressBlob(damaged).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace arca::services
