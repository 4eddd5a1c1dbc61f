#include "libs/archive/stream_reader.h"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/test_entries.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

// Serves chunks from memory; counts requests; can lie about a chunk.
class MemoryChunkSource final : public ChunkSource {
 public:
  void Add(const std::string& data) {
    chunks_[Sha256(std::string_view(data))] = std::make_shared<const std::string>(data);
  }
  void Replace(const Digest& d, std::string data) {
    chunks_[d] = std::make_shared<const std::string>(std::move(data));
  }
  void Remove(const Digest& d) { chunks_.erase(d); }

  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override {
    ++calls;
    auto it = chunks_.find(digest);
    if (it == chunks_.end()) {
      absl::Status st = absl::NotFoundError("chunk not in store");
      st.SetPayload("type.test/tag", absl::Cord("kept"));  // e.g. an attached phase
      return st;
    }
    return it->second;
  }
  int calls = 0;

 private:
  absl::flat_hash_map<Digest, std::shared_ptr<const std::string>> chunks_;
};

// Cuts `data` at the given ascending offsets (0 < cut < size).
ChunkIndex Cut(const std::string& data, std::vector<size_t> cuts, MemoryChunkSource* source) {
  ChunkIndex index;
  cuts.push_back(data.size());
  size_t start = 0;
  for (size_t end : cuts) {
    std::string chunk = data.substr(start, end - start);
    source->Add(chunk);
    index.Append(Sha256(std::string_view(chunk)), chunk.size());
    start = end;
  }
  return index;
}

// Random cuts with chunk lengths in [1, max_len].
std::vector<size_t> RandomCuts(size_t size, size_t max_len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<size_t> cuts;
  for (size_t at = 1 + rng() % max_len; at < size; at += 1 + rng() % max_len) cuts.push_back(at);
  return cuts;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::span<uint8_t> Span(std::string& s) { return {reinterpret_cast<uint8_t*>(s.data()), s.size()}; }

TEST(StreamReader, SequentialReadsReturnTheStream) {
  const std::string data = RandomBytes(100000, 1);
  MemoryChunkSource source;
  ChunkIndex index = Cut(data, RandomCuts(data.size(), 5000, 2), &source);
  for (size_t buf_size : {1, 13, 4096, 200000}) {
    StreamReader reader(&index, &source);
    std::string got, buf(buf_size, '\0');
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(Span(buf));
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0) break;
      // Fills the buffer except at the end of the stream.
      if (got.size() + *n < data.size()) {
        EXPECT_EQ(*n, buf_size);
      }
      got.append(buf, 0, *n);
      EXPECT_EQ(reader.position(), got.size());
    }
    EXPECT_EQ(got, data);
    EXPECT_EQ(reader.chunks_fetched(), index.size()) << "each chunk fetched once";
  }
}

TEST(StreamReader, RandomAccessMatchesTheStream) {
  const std::string data = RandomBytes(50000, 3);
  MemoryChunkSource source;
  ChunkIndex index = Cut(data, RandomCuts(data.size(), 3000, 4), &source);
  StreamReader reader(&index, &source, 2);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t off = rng() % (data.size() + 1);
    std::string buf(rng() % 8000, '\0');
    absl::StatusOr<size_t> n = reader.ReadAt(off, Span(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, std::min<size_t>(buf.size(), data.size() - off));
    ASSERT_EQ(buf.substr(0, *n), data.substr(off, *n)) << off;
  }
  EXPECT_EQ(reader.position(), 0u);  // ReadAt does not move the position
}

TEST(StreamReader, SeekAndBounds) {
  const std::string data = RandomBytes(1000, 6);
  MemoryChunkSource source;
  ChunkIndex index = Cut(data, {100, 101, 500}, &source);
  StreamReader reader(&index, &source, 0);  // cache of 0 acts as 1
  std::string buf(10, '\0');
  ASSERT_TRUE(reader.Seek(95).ok());
  ASSERT_EQ(reader.Read(Span(buf)).value(), 10u);
  EXPECT_EQ(buf, data.substr(95, 10));  // spans the 1-byte chunk
  EXPECT_EQ(reader.position(), 105u);
  ASSERT_TRUE(reader.Seek(1000).ok());
  EXPECT_EQ(reader.Read(Span(buf)).value(), 0u);
  EXPECT_EQ(reader.ReadAt(1000, Span(buf)).value(), 0u);
  absl::Status s = reader.Seek(1001);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(s.message(),
              HasSubstr("seek to offset 1001 is beyond the stream's end (1000 bytes)"));
  absl::StatusOr<size_t> r = reader.ReadAt(5000, Span(buf));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("read at offset 5000 is beyond"));

  ChunkIndex empty;
  StreamReader none(&empty, &source);
  EXPECT_EQ(none.Read(Span(buf)).value(), 0u);
}

TEST(StreamReader, RepeatedChunksAreFetchedOnceWhileCached) {
  const std::string a(100, 'a'), b(50, 'b');
  MemoryChunkSource source;
  source.Add(a);
  source.Add(b);
  ChunkIndex index;
  for (int i = 0; i < 10; ++i) {
    index.Append(Sha256(std::string_view(a)), a.size());
    index.Append(Sha256(std::string_view(b)), b.size());
  }
  StreamReader reader(&index, &source, 2);
  std::string buf(1500, '\0');
  ASSERT_EQ(reader.Read(Span(buf)).value(), 1500u);
  EXPECT_EQ(source.calls, 2);
  EXPECT_EQ(buf.substr(100, 50), b);
}

TEST(StreamReader, WrongChunkLengthIsDataLoss) {
  const std::string data = RandomBytes(300, 7);
  MemoryChunkSource source;
  ChunkIndex index = Cut(data, {100, 200}, &source);
  const Digest d = index.entries()[1].digest;
  source.Replace(d, std::string(99, 'x'));
  StreamReader reader(&index, &source);
  std::string buf(300, '\0');
  EXPECT_EQ(reader.Read(Span(buf)).value(), 100u);  // the bytes before the bad chunk
  EXPECT_EQ(buf.substr(0, 100), data.substr(0, 100));
  absl::StatusOr<size_t> n = reader.Read(Span(buf));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(n.status().message(), HasSubstr("stream offset 100: chunk " + d.Hex() +
                                              " has 99 bytes, but the index says 100"));
  EXPECT_EQ(reader.position(), 100u);
}

TEST(StreamReader, SourceErrorsKeepTheirCodeAndNameTheChunk) {
  const std::string data = RandomBytes(300, 8);
  MemoryChunkSource source;
  ChunkIndex index = Cut(data, {100, 200}, &source);
  const Digest d = index.entries()[2].digest;
  source.Remove(d);
  StreamReader reader(&index, &source);
  std::string buf(300, '\0');
  EXPECT_EQ(reader.ReadAt(150, Span(buf)).value(), 50u);  // up to the missing chunk
  absl::StatusOr<size_t> n = reader.ReadAt(200, Span(buf));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(n.status().message(),
              HasSubstr("stream offset 200: chunk " + d.Hex() + ": chunk not in store"));
  // Payloads (the phase of libs/base/phase_status.h) travel on.
  EXPECT_EQ(n.status().GetPayload("type.test/tag"), absl::Cord("kept"));
}

TEST(StreamReader, MetadataStreamRoundTripsThroughChunks) {
  std::vector<v1::Entry> entries = testing::MakeTestEntries(3000, 9);
  MetadataStreamWriter writer;
  std::string stream;
  writer.WriteHeader(&stream);
  for (const v1::Entry& e : entries) ASSERT_TRUE(writer.Append(e, &stream).ok());
  writer.WriteTrailer(&stream);

  for (size_t max_len : {1, 17, 1000, 65536, 1 << 20}) {
    SCOPED_TRACE(max_len);
    MemoryChunkSource source;
    ChunkIndex index = Cut(stream, RandomCuts(stream.size(), max_len, 10 + max_len), &source);
    // Through the encoded index too, as a restore would.
    std::string encoded = index.Encode(v1::STREAM_KIND_METADATA);
    absl::StatusOr<ChunkIndex> decoded =
        ChunkIndex::Decode({reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size()},
                           v1::STREAM_KIND_METADATA, "test/metadata.aidx");
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    StreamReader bytes(&*decoded, &source, 1);
    MetadataStreamReader reader(&bytes);
    v1::Entry e;
    size_t i = 0;
    while (true) {
      absl::StatusOr<bool> more = reader.Next(&e);
      ASSERT_TRUE(more.ok()) << more.status();
      if (!*more) break;
      ASSERT_LT(i, entries.size());
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(e, entries[i])) << i;
      ++i;
    }
    EXPECT_EQ(i, entries.size());
    EXPECT_EQ(reader.offset(), stream.size());
  }
}

TEST(StreamReader, MissingChunkSurfacesThroughTheMetadataReader) {
  std::vector<v1::Entry> entries = testing::MakeTestEntries(500, 11);
  MetadataStreamWriter writer;
  std::string stream;
  writer.WriteHeader(&stream);
  for (const v1::Entry& e : entries) ASSERT_TRUE(writer.Append(e, &stream).ok());
  writer.WriteTrailer(&stream);
  MemoryChunkSource source;
  ChunkIndex index = Cut(stream, {4096, 8192}, &source);
  source.Remove(index.entries()[1].digest);
  StreamReader bytes(&index, &source);
  MetadataStreamReader reader(&bytes);
  v1::Entry e;
  absl::StatusOr<bool> more = true;
  while (more.ok() && *more) more = reader.Next(&e);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(more.status().message(),
              HasSubstr("metadata stream: reading at byte 4096: stream offset 4096: chunk " +
                        index.entries()[1].digest.Hex()));
}

}  // namespace
}  // namespace arca
