#include "libs/blob/blob.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Text(size_t n, uint64_t seed) {
  static const char* kWords[] = {"backup ",    "chunk ",   "the ",    "repository ",
                                 "snapshot\n", "of ",      "a ",      "file ",
                                 "metadata ",  "payload ", "stream ", "42 "};
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) s += kWords[rng() % 12];
  s.resize(n);
  return s;
}

std::string MustEncode(const std::string& raw, Codec codec, int level) {
  absl::StatusOr<std::string> blob = EncodeBlob(Bytes(raw), codec, level);
  EXPECT_TRUE(blob.ok()) << blob.status();
  return blob.ok() ? *blob : "";
}

void PutLe(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// Recomputes the header CRC after a deliberate change to the header.
void FixHeaderCrc(std::string& blob) {
  PutLe(blob, 28, Crc32c(std::string_view(blob).substr(0, 28)), 4);
}

// Recomputes the payload CRC (and then the header CRC).
void FixPayloadCrc(std::string& blob) {
  PutLe(blob, 24, Crc32c(std::string_view(blob).substr(32)), 4);
  FixHeaderCrc(blob);
}

Codec StoredCodec(const std::string& blob) {
  absl::StatusOr<BlobHeader> h = ParseBlobHeader(Bytes(blob));
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? h->codec : static_cast<Codec>(0);
}

TEST(BlobTest, HeaderLayout) {
  const std::string raw = Text(100000, 1);
  const std::string blob = MustEncode(raw, Codec::kZstd, 3);
  ASSERT_GT(blob.size(), 32u);
  EXPECT_EQ(blob.substr(0, 4), "ARCB");
  EXPECT_EQ(blob[4], 1);  // version, little-endian
  EXPECT_EQ(blob[5], 0);
  EXPECT_EQ(blob[6], 2);  // zstd
  EXPECT_EQ(blob[7], 0);  // flags
  absl::StatusOr<BlobHeader> h = ParseBlobHeader(Bytes(blob));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->codec, Codec::kZstd);
  EXPECT_EQ(h->raw_length, raw.size());
  EXPECT_EQ(h->stored_length, blob.size() - kBlobHeaderSize);
  EXPECT_EQ(h->payload_crc, Crc32c(std::string_view(blob).substr(32)));
  EXPECT_EQ(static_cast<uint8_t>(blob[8]), raw.size() & 0xff);
  EXPECT_EQ(static_cast<uint8_t>(blob[9]), (raw.size() >> 8) & 0xff);
}

struct Case {
  Codec codec;
  int level;
};

class RoundTripTest : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTripTest, CompressibleChunks) {
  const Case c = GetParam();
  for (size_t size : {size_t{1}, size_t{5000}, size_t{100000}, size_t{1} << 20}) {
    const std::string raw = Text(size, size);
    const std::string blob = MustEncode(raw, c.codec, c.level);
    // Tiny chunks do not shrink by 1/32; the others compress.
    EXPECT_EQ(StoredCodec(blob), size < 100 ? Codec::kNone : c.codec) << size;
    absl::StatusOr<std::string> out = DecodeBlob(Bytes(blob), Sha256(raw));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == raw);
  }
}

TEST_P(RoundTripTest, EmptyChunk) {
  const Case c = GetParam();
  const std::string blob = MustEncode("", c.codec, c.level);
  EXPECT_EQ(blob.size(), kBlobHeaderSize);
  EXPECT_EQ(StoredCodec(blob), Codec::kNone);
  absl::StatusOr<std::string> out = DecodeBlob(Bytes(blob), Sha256(""));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
}

TEST_P(RoundTripTest, IncompressibleIsStoredRaw) {
  const Case c = GetParam();
  // Below the probe size (compressed whole, then dropped) and above it.
  for (size_t size : {size_t{100000}, size_t{1} << 20}) {
    const std::string raw = RandomBytes(size, 7);
    const std::string blob = MustEncode(raw, c.codec, c.level);
    EXPECT_EQ(StoredCodec(blob), Codec::kNone);
    EXPECT_EQ(blob.size(), kBlobHeaderSize + size);
    EXPECT_EQ(blob.substr(kBlobHeaderSize), raw);
    absl::StatusOr<std::string> out = DecodeBlob(Bytes(blob), Sha256(raw));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == raw);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, RoundTripTest,
                         ::testing::Values(Case{Codec::kNone, 0}, Case{Codec::kZstd, 1},
                                           Case{Codec::kZstd, 3}, Case{Codec::kZstd, 19},
                                           Case{Codec::kXz, 0}, Case{Codec::kXz, 6}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(CodecName(info.param.codec)) +
                                  std::to_string(info.param.level);
                         });

TEST(BlobTest, ProbeKeepsCompressibleChunks) {
  // 1 MiB of zeros except random bytes where the probe's slices look: the
  // sample does not compress, but the confirmation on the whole chunk does,
  // so the chunk is compressed.
  const size_t n = 1 << 20, slice = 4 << 10;
  std::string raw(n, '\0');
  for (int i = 0; i < 16; ++i) {
    const size_t at = (n - slice) * i / 15;
    raw.replace(at, slice, RandomBytes(slice, 100 + i));
  }
  for (Case c : {Case{Codec::kXz, 1}, Case{Codec::kZstd, 9}, Case{Codec::kZstd, 3}}) {
    const std::string blob = MustEncode(raw, c.codec, c.level);
    EXPECT_EQ(StoredCodec(blob), c.codec);
    EXPECT_LT(blob.size(), n / 4);
    EXPECT_TRUE(*DecodeBlob(Bytes(blob), Sha256(raw)) == raw);
  }
  // Half text, half random: the probe sees text, the whole saves > 1/32.
  const std::string mixed = Text(n / 2, 3) + RandomBytes(n / 2, 4);
  const std::string blob = MustEncode(mixed, Codec::kXz, 1);
  EXPECT_EQ(StoredCodec(blob), Codec::kXz);
  EXPECT_TRUE(*DecodeBlob(Bytes(blob), Sha256(mixed)) == mixed);
  // Random data with a little text (saves < 1/32): stored raw by the probe.
  const std::string mostly = RandomBytes(n, 5) + Text(10000, 6);
  EXPECT_EQ(StoredCodec(MustEncode(mostly, Codec::kXz, 6)), Codec::kNone);
  EXPECT_EQ(StoredCodec(MustEncode(mostly, Codec::kZstd, 19)), Codec::kNone);
}

TEST(BlobTest, MultithreadedEncode) {
  const std::string raw = Text(4 << 20, 5);
  absl::StatusOr<std::string> blob = EncodeBlob(Bytes(raw), Codec::kZstd, 3, 2);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(*DecodeBlob(Bytes(*blob), Sha256(raw)) == raw);
}

TEST(BlobTest, EncodeRejectsBadArguments) {
  absl::StatusOr<std::string> r = EncodeBlob(Bytes("abc"), Codec::kZstd, 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("level 20"));
  r = EncodeBlob(Bytes("abc"), Codec::kNone, 3);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = EncodeBlob(Bytes("abc"), static_cast<Codec>(4), 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = EncodeBlob(Bytes("abc"), Codec::kZstd, 3, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string huge(kMaxBlobRawLength + 1, 'x');
  r = EncodeBlob(Bytes(huge), Codec::kZstd, 3);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("67108865 bytes exceeds"));
}

TEST(BlobTest, MaxSizeChunkRoundTrips) {
  const std::string raw(kMaxBlobRawLength, 'a');
  const std::string blob = MustEncode(raw, Codec::kZstd, 1);
  EXPECT_EQ(StoredCodec(blob), Codec::kZstd);
  EXPECT_TRUE(*DecodeBlob(Bytes(blob), Sha256(raw)) == raw);
}

// ---- Corruption: every case is DataLoss with a message saying what.

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raw_ = Text(20000, 9);
    digest_ = Sha256(raw_);
    blob_ = MustEncode(raw_, Codec::kZstd, 3);
    ASSERT_EQ(StoredCodec(blob_), Codec::kZstd);
  }

  // Both ParseBlobHeader (when `header` is true) and DecodeBlob fail with
  // DataLoss mentioning `what`; DecodeBlob also names the digest.
  void ExpectDataLoss(const std::string& blob, const std::string& what, bool header = true) {
    if (header) {
      absl::StatusOr<BlobHeader> h = ParseBlobHeader(Bytes(blob));
      EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss) << what;
      EXPECT_THAT(std::string(h.status().message()), StartsWith("blob header "));
      EXPECT_THAT(std::string(h.status().message()), HasSubstr(what));
    }
    absl::StatusOr<std::string> d = DecodeBlob(Bytes(blob), digest_);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << what;
    EXPECT_THAT(std::string(d.status().message()), StartsWith("blob " + digest_.Hex() + ": "));
    EXPECT_THAT(std::string(d.status().message()), HasSubstr(what));
  }

  std::string raw_;
  Digest digest_;
  std::string blob_;
};

TEST_F(CorruptionTest, TooShortForAHeader) {
  for (size_t n : {0, 1, 4, 31}) {
    ExpectDataLoss(blob_.substr(0, n), "blob header truncated: blob has " + std::to_string(n) +
                                           " bytes, the header needs 32");
  }
}

TEST_F(CorruptionTest, Magic) {
  std::string b = blob_;
  b[0] = 'X';
  ExpectDataLoss(b, "blob header invalid: bad magic 58 52 43 42");
}

TEST_F(CorruptionTest, Version) {
  std::string b = blob_;
  b[4] = 2;
  ExpectDataLoss(b, "encrypted blob (format 2): it is opened with the repository's key");
  b[4] = 3;
  ExpectDataLoss(b, "unsupported format version 3 (this arca reads version 1");
  b = blob_;
  b[5] = 1;  // version 257
  ExpectDataLoss(b, "unsupported format version 257");
}

TEST_F(CorruptionTest, HeaderCrc) {
  for (size_t at : {6, 7, 8, 15, 16, 23, 24, 27, 28, 31}) {
    std::string b = blob_;
    b[at] ^= 0x10;
    ExpectDataLoss(b, "blob header corrupt: header CRC32C is 0x");
  }
}

TEST_F(CorruptionTest, Flags) {
  std::string b = blob_;
  b[7] = 1;
  FixHeaderCrc(b);
  ExpectDataLoss(b,
                 "flags 0x01 are not supported in format 1 (bit 0: "
                 "encrypted blob");
  b = blob_;
  b[7] = static_cast<char>(0x80);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "flags 0x80 are not supported in format 1");
}

TEST_F(CorruptionTest, CodecByte) {
  for (int codec : {0, 4, 255}) {
    std::string b = blob_;
    b[6] = static_cast<char>(codec);
    FixHeaderCrc(b);
    ExpectDataLoss(b, "blob header invalid: unknown codec byte " + std::to_string(codec));
  }
}

TEST_F(CorruptionTest, RawLengthOverLimit) {
  std::string b = blob_;
  PutLe(b, 8, kMaxBlobRawLength + 1, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "raw length 67108865 exceeds the limit");
  PutLe(b, 8, ~uint64_t{0}, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "raw length 18446744073709551615 exceeds the limit");
}

TEST_F(CorruptionTest, StoredLengthField) {
  const uint64_t stored = blob_.size() - 32;
  std::string b = blob_;
  PutLe(b, 16, stored + 1, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "blob header truncated: stored length is " + std::to_string(stored + 1) +
                        " bytes but only " + std::to_string(stored) + " payload bytes are present");
  PutLe(b, 16, stored - 1, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "(1 trailing bytes)");
  PutLe(b, 16, ~uint64_t{0}, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "truncated: stored length is 18446744073709551615");
}

TEST_F(CorruptionTest, TruncatedPayload) {
  for (size_t cut : {size_t{1}, size_t{100}, blob_.size() - 33}) {
    ExpectDataLoss(blob_.substr(0, blob_.size() - cut), "blob header truncated: stored length is");
  }
}

TEST_F(CorruptionTest, TrailingGarbage) {
  ExpectDataLoss(blob_ + "junk", "(4 trailing bytes)");
  ExpectDataLoss(blob_ + std::string(1, '\0'), "(1 trailing bytes)");
}

TEST_F(CorruptionTest, NoneWithWrongLength) {
  std::string b = MustEncode(RandomBytes(1000, 3), Codec::kNone, 0);
  PutLe(b, 8, 999, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "codec none with stored length 1000 != raw length 999");
}

TEST_F(CorruptionTest, PayloadCrc) {
  for (size_t at : {size_t{32}, size_t{40}, blob_.size() - 1}) {
    std::string b = blob_;
    b[at] ^= 0x01;
    ExpectDataLoss(b, "payload CRC32C is 0x", /*header=*/false);
    EXPECT_TRUE(ParseBlobHeader(Bytes(b)).ok());  // the header is intact
  }
}

TEST_F(CorruptionTest, CheckBlobFrameChecksHeaderAndPayloadCrcOnly) {
  absl::StatusOr<BlobHeader> ok = CheckBlobFrame(Bytes(blob_), digest_);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->raw_length, raw_.size());
  EXPECT_EQ(ok->codec, Codec::kZstd);

  std::string b = blob_;
  b[40] ^= 0x04;
  absl::StatusOr<BlobHeader> crc = CheckBlobFrame(Bytes(b), digest_);
  EXPECT_EQ(crc.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(crc.status().message()),
              StartsWith("blob " + digest_.Hex() + ": payload CRC32C is 0x"));

  absl::StatusOr<BlobHeader> header = CheckBlobFrame(Bytes(blob_.substr(0, 20)), digest_);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(header.status().message()),
              StartsWith("blob " + digest_.Hex() + ": blob header truncated"));

  // The frame does not bind a blob to its name: a valid blob under another
  // digest passes, DecodeBlob does not.
  const Digest other = Sha256("something else");
  EXPECT_TRUE(CheckBlobFrame(Bytes(blob_), other).ok());
  EXPECT_EQ(DecodeBlob(Bytes(blob_), other).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(CorruptionTest, PayloadThatDoesNotDecode) {
  // Corrupt payload with matching CRCs: the codec catches it.
  std::string b = blob_;
  for (size_t at = 40; at < b.size(); at += 7) b[at] ^= 0x55;
  FixPayloadCrc(b);
  ExpectDataLoss(b, "payload does not decode: zstd stream", false);

  // Wrong raw length with matching CRCs.
  b = blob_;
  PutLe(b, 8, raw_.size() + 1, 8);
  FixHeaderCrc(b);
  ExpectDataLoss(b,
                 "payload does not decode: zstd stream declares 20000 "
                 "bytes, expected 20001",
                 false);

  // The payload of one codec labelled as another.
  b = blob_;
  b[6] = static_cast<char>(Codec::kXz);
  FixHeaderCrc(b);
  ExpectDataLoss(b, "payload does not decode: xz stream is corrupt", false);
  std::string x = MustEncode(raw_, Codec::kXz, 6);
  x[6] = static_cast<char>(Codec::kZstd);
  FixHeaderCrc(x);
  ExpectDataLoss(x, "payload does not decode: zstd stream", false);
}

TEST_F(CorruptionTest, DigestMismatch) {
  const Digest other = Sha256("something else");
  absl::StatusOr<std::string> d = DecodeBlob(Bytes(blob_), other);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.status().message(), "blob " + other.Hex() + ": content has SHA-256 " + digest_.Hex() +
                                      ": the blob holds other data than its name says");
}

TEST_F(CorruptionTest, EverySingleByteFlipIsCaught) {
  for (Codec codec : {Codec::kNone, Codec::kZstd, Codec::kXz}) {
    const std::string raw = Text(3000, 11);
    const std::string blob = MustEncode(raw, codec, DefaultLevel(codec));
    const Digest digest = Sha256(raw);
    for (size_t i = 0; i < blob.size(); ++i) {
      for (uint8_t mask : {0x01, 0x80}) {
        std::string b = blob;
        b[i] ^= mask;
        absl::StatusOr<std::string> d = DecodeBlob(Bytes(b), digest);
        EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss)
            << CodecName(codec) << " byte " << i;
        // The CRCs alone catch every single-bit flip, header or payload.
        absl::StatusOr<BlobHeader> f = CheckBlobFrame(Bytes(b), digest);
        EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss)
            << CodecName(codec) << " byte " << i;
      }
    }
  }
}

}  // namespace
}  // namespace arca
