// The committed fuzz seeds are valid encodings of the current formats (if
// this fails after a format change, regenerate them with make_seed_corpus).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"

namespace arca {
namespace {

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(SeedCorpus, MetadataStreamSeedsDecode) {
  int seeds = 0;
  for (const auto& f :
       std::filesystem::directory_iterator("libs/archive/testdata/metadata_stream_corpus")) {
    SCOPED_TRACE(f.path().string());
    const std::string bytes = Slurp(f.path());
    StringByteSource src(bytes);
    MetadataStreamReader reader(&src);
    v1::Entry e;
    absl::StatusOr<bool> more = true;
    while (more.ok() && *more) more = reader.Next(&e);
    EXPECT_TRUE(more.ok()) << more.status();
    ++seeds;
  }
  EXPECT_GE(seeds, 4);
}

TEST(SeedCorpus, ChunkIndexSeedsDecode) {
  int seeds = 0;
  for (const auto& f :
       std::filesystem::directory_iterator("libs/archive/testdata/chunk_index_corpus")) {
    SCOPED_TRACE(f.path().string());
    const std::string bytes = Slurp(f.path());
    const v1::StreamKind kind = f.path().filename().string().starts_with("metadata")
                                    ? v1::STREAM_KIND_METADATA
                                    : v1::STREAM_KIND_PAYLOAD;
    absl::StatusOr<ChunkIndex> index = ChunkIndex::Decode(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, kind, "seed");
    EXPECT_TRUE(index.ok()) << index.status();
    ++seeds;
  }
  EXPECT_GE(seeds, 3);
}

}  // namespace
}  // namespace arca
