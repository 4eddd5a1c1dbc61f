#include "libs/codec/codec.h"

#include <lzma.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Text-like data: words from a small vocabulary, so it compresses well.
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

std::string MustCompress(Codec c, int level, const std::string& in, int threads = 1) {
  std::string out;
  absl::Status s = Compress(c, level, Bytes(in), &out, threads);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(CodecNamesTest, ParseAndName) {
  EXPECT_EQ(*ParseCodec("none"), Codec::kNone);
  EXPECT_EQ(*ParseCodec("zstd"), Codec::kZstd);
  EXPECT_EQ(*ParseCodec("xz"), Codec::kXz);
  for (Codec c : {Codec::kNone, Codec::kZstd, Codec::kXz}) {
    EXPECT_EQ(*ParseCodec(std::string(CodecName(c))), c);
  }
  absl::StatusOr<Codec> bad = ParseCodec("gzip");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "unknown compression 'gzip': use zstd, xz or none");
  EXPECT_EQ(ParseCodec("ZSTD").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCodec("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CodecNamesTest, NumbersMatchTheProto) {
  EXPECT_EQ(static_cast<int>(Codec::kNone), 1);
  EXPECT_EQ(static_cast<int>(Codec::kZstd), 2);
  EXPECT_EQ(static_cast<int>(Codec::kXz), 3);
}

TEST(CodecLevelTest, DefaultsAreValid) {
  EXPECT_EQ(DefaultLevel(Codec::kZstd), 3);
  EXPECT_EQ(DefaultLevel(Codec::kXz), 6);
  EXPECT_EQ(DefaultLevel(Codec::kNone), 0);
  for (Codec c : {Codec::kNone, Codec::kZstd, Codec::kXz}) {
    EXPECT_TRUE(ValidateLevel(c, DefaultLevel(c)).ok());
  }
}

TEST(CodecLevelTest, Ranges) {
  EXPECT_TRUE(ValidateLevel(Codec::kZstd, 1).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kZstd, 19).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kXz, 0).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kXz, 9).ok());

  absl::Status s = ValidateLevel(Codec::kZstd, 20);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "compression level 20 is invalid for zstd: use 1..19");
  s = ValidateLevel(Codec::kZstd, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("level 0"));
  s = ValidateLevel(Codec::kXz, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "compression level 10 is invalid for xz: use 0..9");
  s = ValidateLevel(Codec::kXz, -1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = ValidateLevel(Codec::kNone, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("only level 0"));
  s = ValidateLevel(static_cast<Codec>(7), 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown codec value 7"));
}

TEST(CodecTest, CompressRejectsBadArguments) {
  std::string out = "keep";
  absl::Status s = Compress(Codec::kZstd, 22, Bytes("abc"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("level 22"));
  s = Compress(static_cast<Codec>(0), 0, Bytes("abc"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Compress(Codec::kZstd, 3, Bytes("abc"), &out, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("threads"));
  EXPECT_EQ(out, "keep");
  s = Decompress(static_cast<Codec>(9), Bytes("abc"), 3, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Decompress(Codec::kZstd, Bytes("abc"), kMaxDecompressedLength + 1, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "keep");
}

struct Case {
  Codec codec;
  int level;
};

class RoundTripTest : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTripTest, VariousInputs) {
  const Case c = GetParam();
  const std::vector<std::string> inputs = {"", "x", std::string(1000, 'a'), Text(300000, 1),
                                           RandomBytes(70000, 2)};
  for (const std::string& in : inputs) {
    std::string packed = "prefix";
    ASSERT_TRUE(Compress(c.codec, c.level, Bytes(in), &packed).ok());
    ASSERT_EQ(packed.substr(0, 6), "prefix");  // appends
    std::string payload = packed.substr(6);
    std::string out = "head";
    absl::Status s = Decompress(c.codec, Bytes(payload), in.size(), &out);
    ASSERT_TRUE(s.ok()) << s << " size " << in.size();
    EXPECT_EQ(out.size(), in.size() + 4);
    EXPECT_TRUE(out == "head" + in) << "size " << in.size();
    if (c.codec != Codec::kNone && in.size() == 300000) {
      EXPECT_LT(payload.size(), in.size() / 3) << "text should compress";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, RoundTripTest,
                         ::testing::Values(Case{Codec::kNone, 0}, Case{Codec::kZstd, 1},
                                           Case{Codec::kZstd, 3}, Case{Codec::kZstd, 19},
                                           Case{Codec::kXz, 0}, Case{Codec::kXz, 6},
                                           Case{Codec::kXz, 9}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(CodecName(info.param.codec)) +
                                  std::to_string(info.param.level);
                         });

TEST(CodecTest, MultithreadedRoundTrip) {
  const std::string in = Text(6 << 20, 3) + RandomBytes(1 << 20, 4);
  for (Codec c : {Codec::kZstd, Codec::kXz}) {
    const int level = c == Codec::kXz ? 1 : 3;
    std::string packed = MustCompress(c, level, in, /*threads=*/2);
    std::string out;
    absl::Status s = Decompress(c, Bytes(packed), in.size(), &out);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(out == in);
    EXPECT_LT(packed.size(), in.size() / 2);
  }
}

TEST(CodecTest, ContextsAreReusedAcrossThreadsAndCalls) {
  // Several threads each compress and decompress many inputs with varying
  // codecs and levels through their thread-local contexts.
  std::vector<std::thread> workers;
  std::vector<int> failures(3, 0);
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([t, &failures] {
      for (int i = 0; i < 20; ++i) {
        const Codec c = (i % 3 == 0) ? Codec::kXz : Codec::kZstd;
        const int level = c == Codec::kXz ? i % 4 : 1 + i % 9;
        const std::string in = Text(1000 + 5000 * i, t * 100 + i);
        std::string packed, out;
        if (!Compress(c, level, Bytes(in), &packed).ok() ||
            !Decompress(c, Bytes(packed), in.size(), &out).ok() || out != in) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures, std::vector<int>(3, 0));
}

TEST(CodecTest, NoneChecksLength) {
  std::string out;
  absl::Status s = Decompress(Codec::kNone, Bytes("abcd"), 5, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "uncompressed payload has 4 bytes, expected 5");
  EXPECT_TRUE(out.empty());
}

class CorruptionTest : public ::testing::TestWithParam<Codec> {};

TEST_P(CorruptionTest, WrongLength) {
  const Codec c = GetParam();
  const std::string in = Text(50000, 5);
  const std::string packed = MustCompress(c, DefaultLevel(c), in);
  for (uint64_t len : {uint64_t{0}, uint64_t{49999}, uint64_t{50001}, uint64_t{100000}}) {
    std::string out = "keep";
    absl::Status s = Decompress(c, Bytes(packed), len, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << len;
    EXPECT_THAT(s.message(), HasSubstr("expected " + std::to_string(len)));
    EXPECT_EQ(out, "keep");
  }
}

TEST_P(CorruptionTest, Truncated) {
  const Codec c = GetParam();
  const std::string in = Text(50000, 6);
  const std::string packed = MustCompress(c, DefaultLevel(c), in);
  for (size_t keep : {size_t{0}, size_t{1}, size_t{5}, packed.size() / 2, packed.size() - 1}) {
    std::string out;
    absl::Status s = Decompress(c, Bytes(packed.substr(0, keep)), in.size(), &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << keep;
    EXPECT_THAT(s.message(), HasSubstr(std::string(CodecName(c)) + " stream"));
    EXPECT_TRUE(out.empty());
  }
}

TEST_P(CorruptionTest, TrailingGarbage) {
  const Codec c = GetParam();
  const std::string in = Text(20000, 7);
  std::string packed = MustCompress(c, DefaultLevel(c), in) + "garbage!";
  std::string out;
  absl::Status s = Decompress(c, Bytes(packed), in.size(), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
}

TEST_P(CorruptionTest, EveryFlippedByteIsCaught) {
  // The codecs' own checksums (zstd XXH64, xz CRC32) catch changed content;
  // structural damage is caught by the decoders.
  const Codec c = GetParam();
  const std::string in = Text(4000, 8) + RandomBytes(500, 9);
  const std::string packed = MustCompress(c, DefaultLevel(c), in);
  int caught = 0;
  for (size_t i = 0; i < packed.size(); ++i) {
    std::string bad = packed;
    bad[i] ^= 0x5a;
    std::string out;
    absl::Status s = Decompress(c, Bytes(bad), in.size(), &out);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << i << " " << s;
      ++caught;
    } else {
      // A flip in a field the decoder does not use may still decode right.
      EXPECT_TRUE(out == in) << "byte " << i << " decoded to wrong data";
    }
  }
  EXPECT_GT(caught, static_cast<int>(packed.size() * 9 / 10));
}

TEST_P(CorruptionTest, Garbage) {
  const Codec c = GetParam();
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::string junk = RandomBytes(1 + seed * 37, seed);
    std::string out;
    absl::Status s = Decompress(c, Bytes(junk), 1000, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(out.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Compressed, CorruptionTest, ::testing::Values(Codec::kZstd, Codec::kXz),
                         [](const ::testing::TestParamInfo<Codec>& info) {
                           return std::string(CodecName(info.param));
                         });

TEST(CodecTest, XzWithHugeDictionaryIsRejectedNotAllocated) {
  // A valid .xz stream whose LZMA2 dictionary is declared as 4 GiB needs more
  // decoder memory than the limit: it is reported as data loss. Made by
  // patching the dictionary-size property in the block header (bytes 12..):
  // filter id 0x21, property size 1, property byte; then the header CRC32.
  const std::string in = Text(3000, 10);
  std::string packed = MustCompress(Codec::kXz, 0, in);
  const size_t header_size = (static_cast<uint8_t>(packed[12]) + 1) * 4;
  const size_t at = packed.find("\x21\x01", 12);
  ASSERT_LT(at + 2, 12 + header_size - 4);
  packed[at + 2] = 40;  // 4 GiB - 1
  const uint32_t crc =
      lzma_crc32(reinterpret_cast<const uint8_t*>(packed.data()) + 12, header_size - 4, 0);
  for (int i = 0; i < 4; ++i) {
    packed[12 + header_size - 4 + i] = static_cast<char>(crc >> (8 * i));
  }
  std::string out;
  absl::Status s = Decompress(Codec::kXz, Bytes(packed), in.size(), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("memory"));
}

}  // namespace
}  // namespace arca
