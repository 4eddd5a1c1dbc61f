// Checks the checked-in seed corpus of blob_fuzz (testdata/blob_corpus/):
// every file is a valid blob that decodes to the SHA-256 in its name, with the
// codec its name starts with. Keeps blobs written by earlier versions
// readable: a format change that breaks them fails here.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/blob/blob.h"

namespace arca {
namespace {

std::string g_corpus_dir;

TEST(BlobCorpusTest, EverySeedDecodes) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(g_corpus_dir)) {
    files.push_back(e.path());
  }
  ASSERT_GE(files.size(), 8u) << g_corpus_dir;
  int per_codec[4] = {0, 0, 0, 0};
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    std::ifstream in(path, std::ios::binary);
    const std::string blob{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const std::string stem = path.stem().string();  // <what>-<hex>
    ASSERT_GT(stem.size(), 65u);
    absl::StatusOr<Digest> digest = Digest::FromHex(stem.substr(stem.size() - 64));
    ASSERT_TRUE(digest.ok()) << digest.status();
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(blob.data()), blob.size());
    absl::StatusOr<BlobHeader> header = ParseBlobHeader(bytes);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(stem.substr(0, stem.find('-')), CodecName(header->codec));
    ++per_codec[static_cast<int>(header->codec)];
    absl::StatusOr<std::string> raw = DecodeBlob(bytes, *digest);
    ASSERT_TRUE(raw.ok()) << raw.status();
    EXPECT_EQ(raw->size(), header->raw_length);
  }
  EXPECT_GE(per_codec[static_cast<int>(Codec::kNone)], 2);
  EXPECT_GE(per_codec[static_cast<int>(Codec::kZstd)], 2);
  EXPECT_GE(per_codec[static_cast<int>(Codec::kXz)], 2);
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  arca::g_corpus_dir = argc > 1 ? argv[1] : "libs/blob/testdata/blob_corpus";
  return RUN_ALL_TESTS();
}
