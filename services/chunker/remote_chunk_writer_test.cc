// The wire helpers of the remote chunk writer: a hand-encoded CompressRequest
// parses as the generated message would, and ReadBlobView reads what it needs
// of an encoded Blob (and refuses garbage). The writer itself runs against
// real processes in tests/distributed/pipeline_*_test.
#include "services/chunker/remote_chunk_writer.h"

#include <cstring>
#include <string>

#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "gtest/gtest.h"
#include "libs/hash/crc32c.h"
#include "libs/hash/digest.h"

namespace arca::services {
namespace {

ByteBuffer Plain(const std::string& s) {
  ByteBuffer b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  b.set_size(s.size());
  return b;
}

template <typename M>
M Parse(grpc::ByteBuffer* bb) {
  M m;
  grpc::ProtoBufferReader reader(bb);
  EXPECT_TRUE(m.ParseFromZeroCopyStream(&reader));
  return m;
}

TEST(EncodeCompressRequest, ParsesAsTheGeneratedMessage) {
  for (int level : {0, 3, -5, 19}) {
    for (const std::string& data : {std::string("x"), std::string(3 << 20, 'q')}) {
      const Digest d = Sha256(data);
      grpc::ByteBuffer bb =
          EncodeCompressRequest(v1::CODEC_XZ, level, v1::STREAM_KIND_PAYLOAD, &d, Plain(data));
      v1::CompressRequest r = Parse<v1::CompressRequest>(&bb);
      EXPECT_EQ(r.codec(), v1::CODEC_XZ);
      EXPECT_EQ(r.level(), level);
      EXPECT_EQ(r.chunk().stream(), v1::STREAM_KIND_PAYLOAD);
      EXPECT_EQ(r.chunk().ref().digest(), d.Raw());
      EXPECT_EQ(r.chunk().ref().raw_length(), data.size());
      EXPECT_EQ(r.chunk().data(), data);
      EXPECT_FALSE(r.chunk().known());
      EXPECT_FALSE(r.compute_digest());

      // Without a digest: the chunker names the blob; the CRC32C travels.
      grpc::ByteBuffer unhashed = EncodeCompressRequest(
          v1::CODEC_ZSTD, level, v1::STREAM_KIND_PAYLOAD, nullptr, Plain(data));
      v1::CompressRequest u = Parse<v1::CompressRequest>(&unhashed);
      EXPECT_TRUE(u.caller_names_blob());
      EXPECT_FALSE(u.compute_digest());
      EXPECT_EQ(u.data_crc32c(), Crc32c(data));
      EXPECT_TRUE(u.chunk().ref().digest().empty());
      EXPECT_EQ(u.chunk().ref().raw_length(), data.size());
      EXPECT_EQ(u.chunk().data(), data);
    }
  }
}

TEST(ReadBlobView, ReadsRefAndDataSize) {
  v1::Blob blob;
  blob.set_stream(v1::STREAM_KIND_METADATA);
  blob.mutable_ref()->set_digest(std::string(32, 'd'));
  blob.mutable_ref()->set_raw_length(99);
  blob.set_data(std::string(70000, 'z'));
  grpc::ByteBuffer bb;
  bool own = false;
  ASSERT_TRUE(grpc::SerializationTraits<v1::Blob>::Serialize(blob, &bb, &own).ok());
  absl::StatusOr<BlobView> view = ReadBlobView(&bb);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->ref.digest(), std::string(32, 'd'));
  EXPECT_EQ(view->ref.raw_length(), 99u);
  EXPECT_EQ(view->data_bytes, 70000u);
  // The buffer is intact: it is forwarded as it is.
  EXPECT_EQ(Parse<v1::Blob>(&bb).data().size(), 70000u);
}

TEST(NameBlob, SetsTheDigestAndKeepsEverythingElse) {
  v1::Blob blob;  // as a compressor answers caller_names_blob: no digest
  blob.set_stream(v1::STREAM_KIND_PAYLOAD);
  blob.mutable_ref()->set_raw_length(123456);
  blob.set_data(std::string(70000, 'z'));
  grpc::ByteBuffer bb;
  bool own = false;
  ASSERT_TRUE(grpc::SerializationTraits<v1::Blob>::Serialize(blob, &bb, &own).ok());
  const Digest d = Sha256(std::string("the chunker's own hash"));
  grpc::ByteBuffer named = NameBlob(bb, d);
  v1::Blob parsed = Parse<v1::Blob>(&named);
  EXPECT_EQ(parsed.ref().digest(), d.Raw());
  EXPECT_EQ(parsed.ref().raw_length(), 123456u);
  EXPECT_EQ(parsed.stream(), v1::STREAM_KIND_PAYLOAD);
  EXPECT_EQ(parsed.data(), blob.data());
  absl::StatusOr<BlobView> view = ReadBlobView(&named);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->ref.digest(), d.Raw());
  EXPECT_EQ(view->data_bytes, 70000u);
}

TEST(ReadBlobView, RefusesWhatIsNotABlob) {
  for (const std::string& bytes : {std::string(),
                                   std::string("\x1a\x05"
                                               "abc",
                                               5),
                                   std::string("\x12\x7f", 2), std::string("\xff\xff\xff", 3)}) {
    grpc::Slice s(bytes.data(), bytes.size());
    grpc::ByteBuffer bb(&s, 1);
    absl::StatusOr<BlobView> view = ReadBlobView(&bb);
    EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss) << bytes.size();
  }
}

}  // namespace
}  // namespace arca::services
