#include "libs/archive/chunk_index.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

Digest D(int i) { return Sha256(std::string_view(std::to_string(i))); }

ChunkIndex Make(const std::vector<uint64_t>& lengths) {
  ChunkIndex index;
  for (size_t i = 0; i < lengths.size(); ++i) index.Append(D(static_cast<int>(i)), lengths[i]);
  return index;
}

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void SetU32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
void SetU64(std::string* s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
// Recomputes the trailing SHA-256 after an edit.
void Reseal(std::string* s) {
  const size_t body = s->size() - 32;
  Digest d = Sha256(std::string_view(s->data(), body));
  s->replace(body, 32, d.Raw());
}

TEST(ChunkIndex, AppendAndAccessors) {
  ChunkIndex index = Make({10, 5, 20});
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.stream_length(), 35u);
  EXPECT_EQ(index.ChunkStart(0), 0u);
  EXPECT_EQ(index.ChunkStart(2), 15u);
  EXPECT_EQ(index.ChunkLength(1), 5u);
  EXPECT_EQ(index.entries()[2].end_offset, 35u);
  EXPECT_EQ(index.entries()[2].digest, D(2));
  EXPECT_EQ(ChunkIndex().stream_length(), 0u);
}

TEST(ChunkIndexDeathTest, ZeroLengthChunkAborts) {
  ChunkIndex index;
  EXPECT_DEATH(index.Append(D(0), 0), "invalid chunk length 0");
}

void ExpectRange(const ChunkIndex& index, uint64_t offset, uint64_t length, size_t first,
                 size_t last, uint64_t first_start) {
  absl::StatusOr<ChunkRange> r = index.Find(offset, length);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->empty);
  EXPECT_EQ(r->first, first) << offset << "+" << length;
  EXPECT_EQ(r->last, last) << offset << "+" << length;
  EXPECT_EQ(r->first_start, first_start) << offset << "+" << length;
}

TEST(ChunkIndex, FindEdgeCases) {
  // Ends: 10, 15, 35, 36, 43.
  ChunkIndex index = Make({10, 5, 20, 1, 7});
  ExpectRange(index, 0, 1, 0, 0, 0);
  ExpectRange(index, 9, 1, 0, 0, 0);    // last byte of chunk 0
  ExpectRange(index, 10, 1, 1, 1, 10);  // offset at a chunk boundary
  ExpectRange(index, 9, 2, 0, 1, 0);    // straddles a boundary
  ExpectRange(index, 10, 5, 1, 1, 10);  // exactly one chunk
  ExpectRange(index, 10, 6, 1, 2, 10);
  ExpectRange(index, 0, 43, 0, 4, 0);   // the whole stream
  ExpectRange(index, 1, 41, 0, 4, 0);   // many chunks
  ExpectRange(index, 35, 1, 3, 3, 35);  // the 1-byte chunk
  ExpectRange(index, 42, 1, 4, 4, 36);  // last byte of the stream

  for (uint64_t off : {0ull, 5ull, 10ull, 43ull}) {
    absl::StatusOr<ChunkRange> r = index.Find(off, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty);
  }
  struct Bad {
    uint64_t offset, length;
  };
  for (Bad b : {Bad{43, 1}, Bad{40, 4}, Bad{44, 0}, Bad{0, 44}, Bad{~0ull, 2}, Bad{2, ~0ull}}) {
    absl::StatusOr<ChunkRange> r = index.Find(b.offset, b.length);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange) << b.offset << "+" << b.length;
    EXPECT_THAT(r.status().message(), HasSubstr("beyond the stream's end (43 bytes)"));
  }
  ChunkIndex empty;
  EXPECT_TRUE(empty.Find(0, 0).value().empty);
  EXPECT_EQ(empty.Find(0, 1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ChunkIndex, FindMatchesLinearScan) {
  ChunkIndex index = Make({3, 1, 1, 4, 2, 8, 1});
  const uint64_t n = index.stream_length();
  for (uint64_t off = 0; off < n; ++off) {
    for (uint64_t len = 1; off + len <= n; ++len) {
      size_t first = 0, last = 0;
      for (size_t i = 0; i < index.size(); ++i) {
        if (index.ChunkStart(i) <= off && off < index.entries()[i].end_offset) first = i;
        if (index.ChunkStart(i) < off + len && off + len <= index.entries()[i].end_offset) last = i;
      }
      ExpectRange(index, off, len, first, last, index.ChunkStart(first));
    }
  }
}

TEST(ChunkIndex, EncodeDecodeRoundTrip) {
  for (size_t n : {0, 1, 2, 1000}) {
    ChunkIndex index;
    for (size_t i = 0; i < n; ++i) index.Append(D(static_cast<int>(i)), 1 + (i * 7919) % 100000);
    for (v1::StreamKind kind : {v1::STREAM_KIND_METADATA, v1::STREAM_KIND_PAYLOAD}) {
      std::string bytes = index.Encode(kind);
      ASSERT_EQ(bytes.size(), 64 + 40 * n);
      absl::StatusOr<ChunkIndex> back = ChunkIndex::Decode(Span(bytes), kind, "t");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->entries(), index.entries());
      EXPECT_EQ(back->stream_length(), index.stream_length());
    }
  }
}

TEST(ChunkIndex, LayoutMatchesTheDocumentedFormat) {
  ChunkIndex index = Make({10, 5});
  std::string b = index.Encode(v1::STREAM_KIND_PAYLOAD);
  EXPECT_EQ(b.substr(0, 8), "ARCAIDX1");
  EXPECT_EQ(b.substr(8, 24),
            std::string("\x01\0\0\0\x02\0\0\0\x02\0\0\0\0\0\0\0\x0f\0\0\0\0\0\0\0", 24));
  EXPECT_EQ(b.substr(32, 8), std::string("\x0a\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(b.substr(40, 32), std::string(D(0).Raw()));
  EXPECT_EQ(b.substr(72, 8), std::string("\x0f\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(b.substr(112), std::string(Sha256(std::string_view(b.data(), 112)).Raw()));
}

TEST(ChunkIndex, DecodeReportsEveryCorruption) {
  const std::string good = Make({10, 5, 20}).Encode(v1::STREAM_KIND_PAYLOAD);
  struct Case {
    std::string name;
    std::string bytes;
    absl::StatusCode code;
    std::string fragment;
  };
  using C = absl::StatusCode;
  std::vector<Case> cases;
  cases.push_back({"empty", "", C::kDataLoss,
                   "index snap/payload.aidx: truncated (0 bytes, at least 64 needed)"});
  cases.push_back({"short", good.substr(0, 63), C::kDataLoss, "truncated (63 bytes"});
  {
    std::string s = good;
    s[0] = 'X';
    cases.push_back({"magic", s, C::kDataLoss, "index snap/payload.aidx: bad magic"});
  }
  cases.push_back({"truncated entries", good.substr(0, good.size() - 40), C::kDataLoss,
                   "cannot hold the 3 chunks the header announces"});
  cases.push_back({"truncated checksum", good.substr(0, good.size() - 1), C::kDataLoss,
                   "truncated (183 bytes cannot hold the 3 chunks the header announces)"});
  cases.push_back({"extra bytes", good + "x", C::kDataLoss,
                   "size mismatch (185 bytes, but 3 chunks need exactly 184)"});
  {
    std::string s = good;
    SetU64(&s, 16, ~0ull);
    cases.push_back({"huge count", s, C::kDataLoss, "cannot hold the 18446744073709551615 chunks"});
  }
  {
    std::string s = good;
    s[60] ^= 1;  // a digest byte
    cases.push_back(
        {"flipped digest", s, C::kDataLoss, "index snap/payload.aidx: checksum mismatch"});
    s = good;
    s[good.size() - 1] ^= 1;
    cases.push_back({"flipped checksum", s, C::kDataLoss, "checksum mismatch"});
  }
  {
    std::string s = good;
    SetU32(&s, 8, 2);
    Reseal(&s);
    cases.push_back(
        {"newer version", s, C::kFailedPrecondition,
         "index snap/payload.aidx: version 2 is newer than this arca supports (1): upgrade arca"});
    SetU32(&s, 8, 0);
    Reseal(&s);
    cases.push_back({"version 0", s, C::kDataLoss, "invalid version 0"});
  }
  {
    std::string s = good;
    SetU32(&s, 12, v1::STREAM_KIND_METADATA);
    Reseal(&s);
    cases.push_back({"kind", s, C::kDataLoss, "unexpected stream kind 1 (expected 2)"});
  }
  {
    std::string s = good;
    SetU64(&s, 32 + 40, 10);  // chunk 1 ends where chunk 0 ends
    Reseal(&s);
    cases.push_back({"zero-length chunk", s, C::kDataLoss,
                     "chunk 1 ends at 10, not after 10 (zero-length or non-increasing chunk)"});
    SetU64(&s, 32 + 40, 9);
    Reseal(&s);
    cases.push_back({"decreasing", s, C::kDataLoss, "chunk 1 ends at 9, not after 10"});
    s = good;
    SetU64(&s, 32, 0);
    Reseal(&s);
    cases.push_back({"empty first chunk", s, C::kDataLoss, "chunk 0 ends at 0, not after 0"});
  }
  {
    std::string s = good;
    SetU64(&s, 24, 36);
    Reseal(&s);
    cases.push_back(
        {"stream length", s, C::kDataLoss, "stream length 36 differs from the last chunk end 35"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<ChunkIndex> got =
        ChunkIndex::Decode(Span(c.bytes), v1::STREAM_KIND_PAYLOAD, "snap/payload.aidx");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(c.fragment));
  }
}

}  // namespace
}  // namespace arca
