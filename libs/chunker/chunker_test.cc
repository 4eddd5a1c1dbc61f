#include "libs/chunker/chunker.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr ChunkerParams kSmall = {.min_size = 64 << 10, .avg_size = 256 << 10, .max_size = 1 << 20};

// n bytes: little-endian splitmix64 outputs from state `seed` (the same
// input as testdata/reference_chunker.py's test_input).
std::vector<uint8_t> TestInput(size_t n, uint64_t seed) {
  std::vector<uint8_t> out;
  out.reserve(n + 8);
  uint64_t state = seed;
  while (out.size() < n) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(z >> (8 * i)));
  }
  out.resize(n);
  return out;
}

// Chunk lengths of `data` (the last one may be short), feeding Scan pieces
// of the sizes `next_piece` returns.
template <typename NextPiece>
std::vector<uint64_t> ChunkLengths(Chunker& chunker, std::span<const uint8_t> data,
                                   NextPiece next_piece) {
  std::vector<uint64_t> lengths;
  uint64_t current = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t piece = std::min(next_piece(), data.size() - pos);
    std::span<const uint8_t> rest = data.subspan(pos, piece);
    while (!rest.empty()) {
      const size_t n = chunker.Scan(rest);
      if (n == 0) {
        current += rest.size();
        EXPECT_EQ(chunker.current_length(), current);
        break;
      }
      EXPECT_LE(n, rest.size());
      lengths.push_back(current + n);
      current = 0;
      EXPECT_EQ(chunker.current_length(), 0u);
      rest = rest.subspan(n);
    }
    pos += piece;
  }
  if (current > 0) lengths.push_back(current);
  return lengths;
}

std::vector<uint64_t> ChunkAll(const ChunkerParams& params, std::span<const uint8_t> data,
                               uint64_t seed = 0) {
  Chunker chunker(params, seed);
  return ChunkLengths(chunker, data, [&] { return data.size(); });
}

void ExpectWithinBounds(const std::vector<uint64_t>& lengths, const ChunkerParams& p) {
  ASSERT_FALSE(lengths.empty());
  for (size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_LE(lengths[i], p.max_size) << "chunk " << i;
    if (i + 1 < lengths.size()) {
      EXPECT_GE(lengths[i], p.min_size) << "chunk " << i;
    }
  }
}

std::vector<Digest> ChunkDigests(std::span<const uint8_t> data,
                                 const std::vector<uint64_t>& lengths) {
  std::vector<Digest> out;
  size_t pos = 0;
  for (uint64_t len : lengths) {
    out.push_back(Sha256(data.subspan(pos, len)));
    pos += len;
  }
  return out;
}

TEST(ChunkerParamsTest, Defaults) {
  const ChunkerParams payload = ChunkerParams::PayloadDefault();
  EXPECT_EQ(payload.min_size, 256u << 10);
  EXPECT_EQ(payload.avg_size, 1u << 20);
  EXPECT_EQ(payload.max_size, 4u << 20);
  EXPECT_TRUE(payload.Validate().ok());
  const ChunkerParams metadata = ChunkerParams::MetadataDefault();
  EXPECT_EQ(metadata.min_size, 64u << 10);
  EXPECT_EQ(metadata.avg_size, 256u << 10);
  EXPECT_EQ(metadata.max_size, 1u << 20);
  EXPECT_TRUE(metadata.Validate().ok());
}

TEST(ChunkerParamsTest, ValidateNamesTheBadValue) {
  struct Bad {
    ChunkerParams params;
    std::string message;
  };
  const std::vector<Bad> cases = {
      {{1000, 256 << 10, 1 << 20}, "chunker min_size 1000 is below the minimum 65536 (64 KiB)"},
      {{64 << 10, 300000, 1 << 20}, "chunker avg_size 300000 is not a power of two"},
      {{64 << 10, 0, 1 << 20}, "chunker avg_size 0 is not a power of two"},
      {{256 << 10, 256 << 10, 1 << 20},
       "chunker avg_size 262144 must be larger than min_size 262144"},
      {{512 << 10, 256 << 10, 1 << 20},
       "chunker avg_size 262144 must be larger than min_size 524288"},
      {{64 << 10, 256 << 10, 256 << 10},
       "chunker max_size 262144 must be larger than avg_size 262144"},
      {{1 << 20, 16 << 20, 128 << 20},
       "chunker max_size 134217728 is above the maximum 67108864 (64 MiB)"},
      {{0, 0, 0}, "chunker min_size 0 is below the minimum 65536 (64 KiB)"},
  };
  for (const Bad& bad : cases) {
    absl::Status s = bad.params.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.message;
    EXPECT_EQ(s.message(), bad.message);
  }
  EXPECT_TRUE((ChunkerParams{64 << 10, 128 << 10, 64 << 20}).Validate().ok());
}

TEST(ChunkerParamsTest, ProtoRoundTrip) {
  const ChunkerParams p = {.min_size = 1, .avg_size = 2, .max_size = 3};
  v1::ChunkerParams proto = p.ToProto();
  EXPECT_EQ(proto.min_size(), 1u);
  EXPECT_EQ(proto.avg_size(), 2u);
  EXPECT_EQ(proto.max_size(), 3u);
  EXPECT_EQ(ChunkerParams::FromProto(proto), p);
  EXPECT_EQ(ChunkerParams::FromProto(ChunkerParams::PayloadDefault().ToProto()),
            ChunkerParams::PayloadDefault());
}

// ---- The format: these values must never change (docs/formats/chunker.md).

TEST(GoldenTest, GearTable) {
  const std::array<uint64_t, 256> gear = Chunker::GearTable(0);
  EXPECT_EQ(gear[0], 0xe220a8397b1dcdafull);
  EXPECT_EQ(gear[1], 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(gear[2], 0x06c45d188009454full);
  EXPECT_EQ(gear[3], 0xf88bb8a8724c81ecull);
  std::set<uint64_t> distinct(gear.begin(), gear.end());
  EXPECT_EQ(distinct.size(), 256u);
  EXPECT_NE(Chunker::GearTable(7), gear);
  EXPECT_EQ(Chunker::GearTable(7), Chunker::GearTable(7));
}

// Chunk lengths computed by testdata/reference_chunker.py, an independent
// implementation of the rule in docs/formats/chunker.md.
TEST(GoldenTest, Boundaries) {
  const std::vector<uint8_t> data = TestInput(8 << 20, 42);
  EXPECT_THAT(ChunkAll(kSmall, data),
              ElementsAreArray<uint64_t>({216080, 89862,  272329, 285270, 325244, 300459, 268182,
                                          275275, 283943, 243829, 341440, 297349, 411252, 291946,
                                          312015, 512628, 298785, 318867, 309094, 405591, 299518,
                                          169062, 452530, 265104, 643342, 276851, 222761}));
  EXPECT_THAT(ChunkAll({256 << 10, 1 << 20, 4 << 20}, data),
              ElementsAreArray<uint64_t>({1805588, 1804926, 1220650, 1696856, 1488058, 372530}));
  EXPECT_THAT(ChunkAll(kSmall, data, /*seed=*/7),
              ElementsAreArray<uint64_t>(
                  {342218, 355644, 178931, 549407, 175629, 332405, 377694, 264195, 300483, 268368,
                   286281, 73154,  429529, 264146, 277899, 284304, 475710, 265052, 166313, 274005,
                   305627, 275905, 299507, 278019, 280067, 102802, 342949, 376476, 185889}));
}

// ---- Behaviour.

TEST(ChunkerTest, EmptyScanReturnsZero) {
  Chunker chunker(kSmall);
  EXPECT_EQ(chunker.Scan({}), 0u);
  EXPECT_EQ(chunker.current_length(), 0u);
}

TEST(ChunkerTest, PiecesDoNotMatter) {
  const std::vector<uint8_t> data = TestInput(3 << 20, 1);
  const std::vector<uint64_t> whole = ChunkAll(kSmall, data);
  ASSERT_GT(whole.size(), 5u);

  Chunker bytewise(kSmall);
  EXPECT_EQ(ChunkLengths(bytewise, data, [] { return size_t{1}; }), whole);

  std::mt19937_64 rng(3);
  for (int round = 0; round < 5; ++round) {
    Chunker random_pieces(kSmall);
    const size_t scale = size_t{1} << (4 * round + 1);  // 2 .. 128 Ki
    EXPECT_EQ(ChunkLengths(random_pieces, data, [&] { return 1 + rng() % scale; }), whole)
        << "round " << round;
  }
}

TEST(ChunkerTest, SizesWithinBoundsOnRandomData) {
  for (const ChunkerParams& p :
       {kSmall, ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(),
        ChunkerParams{100000, 128 << 10, 200000}}) {
    const std::vector<uint8_t> data = TestInput(24 << 20, 5);
    const std::vector<uint64_t> lengths = ChunkAll(p, data);
    ExpectWithinBounds(lengths, p);
    // Normalized chunking keeps the mean near the target.
    const double mean = static_cast<double>(data.size()) / lengths.size();
    if (p.max_size >= 4 * p.avg_size) {
      EXPECT_GT(mean, 0.8 * p.avg_size);
      EXPECT_LT(mean, 1.6 * p.avg_size);
    }
  }
}

TEST(ChunkerTest, LowEntropyDataIsBounded) {
  // Constant data hashes to one value: every chunk is either min or max
  // long. A short period repeats the window: the same holds.
  std::vector<uint8_t> zeros(10 << 20, 0);
  std::vector<uint8_t> pattern(10 << 20);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = "abcabd"[i % 6];
  for (const auto* data : {&zeros, &pattern}) {
    for (uint64_t seed : {0, 1, 2, 3}) {
      const std::vector<uint64_t> lengths = ChunkAll(kSmall, *data, seed);
      ExpectWithinBounds(lengths, kSmall);
      uint64_t total = 0;
      for (uint64_t l : lengths) total += l;
      EXPECT_EQ(total, data->size());
    }
  }
}

TEST(ChunkerTest, MaxSizeCutsExactly) {
  // With the strict/loose limits never reached (zeros, seed whose hash of
  // zeros is large), every chunk is max_size long.
  std::vector<uint8_t> zeros(5 << 20, 0);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const std::vector<uint64_t> lengths = ChunkAll(kSmall, zeros, seed);
    if (lengths[0] == kSmall.max_size) {
      EXPECT_THAT(lengths,
                  ElementsAreArray<uint64_t>({1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20}));
      return;
    }
  }
  FAIL() << "no seed among 0..7 gives max-size chunks on zeros";
}

TEST(ChunkerTest, InsertionShiftsOnlyNearbyBoundaries) {
  const std::vector<uint8_t> original = TestInput(32 << 20, 9);
  for (size_t at : {size_t{1000}, size_t{16 << 20}}) {
    std::vector<uint8_t> edited = original;
    const std::vector<uint8_t> insert = TestInput(100, 77);
    edited.insert(edited.begin() + at, insert.begin(), insert.end());

    const auto before = ChunkAll(kSmall, original);
    const auto after = ChunkAll(kSmall, edited);
    const auto old_digests = ChunkDigests(original, before);
    const auto new_digests = ChunkDigests(edited, after);
    std::set<Digest> old_set(old_digests.begin(), old_digests.end());
    size_t reused = 0;
    uint64_t new_bytes = 0;
    for (size_t i = 0; i < new_digests.size(); ++i) {
      if (old_set.contains(new_digests[i])) {
        ++reused;
      } else {
        new_bytes += after[i];
      }
    }
    // Only the chunk holding the edit (and rarely its neighbour) changes.
    EXPECT_GE(reused + 2, new_digests.size()) << "insert at " << at;
    EXPECT_LE(new_bytes, 2 * kSmall.max_size) << "insert at " << at;
  }
}

TEST(ChunkerTest, ResetStartsANewChunk) {
  const std::vector<uint8_t> data = TestInput(4 << 20, 11);
  Chunker chunker(kSmall);
  // Feed 10000 bytes (less than min_size: no boundary), then force one.
  EXPECT_EQ(chunker.Scan(std::span(data).first(10000)), 0u);
  EXPECT_EQ(chunker.current_length(), 10000u);
  chunker.Reset();
  EXPECT_EQ(chunker.current_length(), 0u);
  // The rest is chunked exactly as if it were a stream of its own.
  std::span<const uint8_t> rest = std::span(data).subspan(10000);
  EXPECT_EQ(ChunkLengths(chunker, rest, [&] { return rest.size(); }), ChunkAll(kSmall, rest));
  // Reset in the middle of the hashed region too.
  Chunker c2(kSmall);
  EXPECT_EQ(c2.Scan(std::span(data).first(kSmall.min_size + 10)), 0u);
  c2.Reset();
  EXPECT_EQ(ChunkLengths(c2, rest, [&] { return rest.size(); }), ChunkAll(kSmall, rest));
}

TEST(ChunkerTest, SeedChangesBoundaries) {
  const std::vector<uint8_t> data = TestInput(4 << 20, 13);
  EXPECT_NE(ChunkAll(kSmall, data, 0), ChunkAll(kSmall, data, 99));
  EXPECT_EQ(ChunkAll(kSmall, data, 99), ChunkAll(kSmall, data, 99));
}

TEST(ChunkerTest, CopiesAreIndependent) {
  const std::vector<uint8_t> data = TestInput(2 << 20, 15);
  Chunker a(kSmall);
  EXPECT_EQ(a.Scan(std::span(data).first(70000)), 0u);
  Chunker b = a;  // continues the same chunk
  const size_t na = a.Scan(std::span(data).subspan(70000));
  const size_t nb = b.Scan(std::span(data).subspan(70000));
  EXPECT_EQ(na, nb);
  EXPECT_GT(na, 0u);
  EXPECT_EQ(a.params(), kSmall);
}

}  // namespace
}  // namespace arca
