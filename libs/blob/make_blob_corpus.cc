// Writes the seed corpus of blob_fuzz: a few valid blobs of every codec.
//   bazel run //libs/blob:make_blob_corpus -- $PWD/libs/blob/testdata/blob_corpus
// File names are <what>-<sha256 of the chunk>.blob; blob_test checks that
// every corpus file decodes to the digest in its name.
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "libs/blob/blob.h"

namespace arca {
namespace {

std::string Text(size_t n) {
  static const char* kWords[] = {"backup ",    "chunk ", "the ", "repository ",
                                 "snapshot\n", "of ",    "a ",   "file "};
  std::mt19937_64 rng(n);
  std::string s;
  while (s.size() < n) s += kWords[rng() % 8];
  s.resize(n);
  return s;
}

std::string Random(size_t n) {
  std::mt19937_64 rng(n + 1);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_blob_corpus DIR\n");
    return 2;
  }
  struct Seed {
    std::string name;
    std::string raw;
    Codec codec;
    int level;
  };
  const std::vector<Seed> seeds = {
      {"none-empty", "", Codec::kNone, 0},
      {"none-text", Text(300), Codec::kNone, 0},
      {"none-random", Random(2000), Codec::kZstd, 3},  // incompressible
      {"zstd-text", Text(3000), Codec::kZstd, 3},
      {"zstd-text-19", Text(1500), Codec::kZstd, 19},
      {"zstd-runs", std::string(4000, 'a') + Text(500), Codec::kZstd, 1},
      {"xz-text", Text(3000), Codec::kXz, 6},
      {"xz-text-0", Text(1500), Codec::kXz, 0},
  };
  for (const Seed& s : seeds) {
    absl::StatusOr<std::string> blob = EncodeBlob(
        {reinterpret_cast<const uint8_t*>(s.raw.data()), s.raw.size()}, s.codec, s.level);
    if (!blob.ok()) {
      std::fprintf(stderr, "%s: %s\n", s.name.c_str(),
                   std::string(blob.status().message()).c_str());
      return 1;
    }
    const std::string path =
        std::string(argv[1]) + "/" + s.name + "-" + Sha256(s.raw).Hex() + ".blob";
    std::ofstream(path, std::ios::binary) << *blob;
    std::printf("%s (%zu bytes)\n", path.c_str(), blob->size());
  }
  return 0;
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) { return arca::Main(argc, argv); }
