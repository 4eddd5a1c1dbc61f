// Writes the seed corpora of metadata_stream_fuzz and chunk_index_fuzz:
//   bazel run //libs/archive:make_seed_corpus -- $PWD/libs/archive/testdata
// Seeds are valid encodings: small, so the fuzz driver's mutations of each
// run quickly, and together covering every entry type and both stream kinds.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/test_entries.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

std::string EncodeStream(const std::vector<v1::Entry>& entries) {
  MetadataStreamWriter w;
  std::string out;
  w.WriteHeader(&out);
  for (const v1::Entry& e : entries) {
    if (absl::Status s = w.Append(e, &out); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
  }
  w.WriteTrailer(&out);
  return out;
}

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

int Main(const std::filesystem::path& dir) {
  const auto meta = dir / "metadata_stream_corpus";
  Write(meta / "empty", EncodeStream({}));
  Write(meta / "root_only", EncodeStream(testing::MakeTestEntries(1)));
  Write(meta / "small_tree", EncodeStream(testing::MakeTestEntries(12, 2)));
  std::vector<v1::Entry> tree = testing::MakeTestEntries(120, 3);
  Write(meta / "every_type", EncodeStream(tree));

  const auto idx = dir / "chunk_index_corpus";
  ChunkIndex empty;
  Write(idx / "empty_payload", empty.Encode(v1::STREAM_KIND_PAYLOAD));
  ChunkIndex three;
  for (uint64_t len : {4096, 1, 1 << 20}) {
    three.Append(Sha256(std::string_view(std::to_string(len))), len);
  }
  Write(idx / "metadata_3", three.Encode(v1::STREAM_KIND_METADATA));
  ChunkIndex many;
  for (int i = 0; i < 20; ++i) {
    many.Append(Sha256(std::string_view(std::to_string(i))), 1 + 65536 * (i % 5));
  }
  Write(idx / "payload_20", many.Encode(v1::STREAM_KIND_PAYLOAD));
  return 0;
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus TESTDATA_DIR\n");
    return 2;
  }
  return arca::Main(argv[1]);
}
