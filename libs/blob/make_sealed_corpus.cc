// Writes the seed corpus of sealed_blob_fuzz into DIR (argv[1]): the fuzz
// chunk sealed with each codec, a sealed manifest, an empty sealed chunk and
// a plaintext (format 1) blob of the same chunk.
//   bazel run //libs/blob:make_sealed_corpus -- $PWD/libs/blob/testdata/sealed_corpus
#include <cstdio>
#include <fstream>
#include <string>

#include "libs/base/bytes.h"
#include "libs/blob/sealed_blob.h"
#include "libs/blob/sealed_fuzz_key.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_sealed_corpus DIR\n");
    return 2;
  }
  using namespace arca;
  const RepositoryKey& key = testing::SealedFuzzKey();
  const std::string chunk = testing::SealedFuzzChunk();
  const Digest id = testing::SealedFuzzChunkId();
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(std::string(argv[1]) + "/" + name, std::ios::binary) << bytes;
  };
  write("chunk-none", *EncodeChunkBlob(AsBytes(chunk), id, Codec::kNone, 0, &key));
  write("chunk-zstd", *EncodeChunkBlob(AsBytes(chunk), id, Codec::kZstd, 3, &key));
  write("chunk-xz", *EncodeChunkBlob(AsBytes(chunk), id, Codec::kXz, 6, &key));
  write("chunk-empty", *EncodeChunkBlob(AsBytes(""), key.ChunkId(AsBytes("")), Codec::kNone, 0,
                                        &key));
  write("manifest", SealBlob(key, SealedKind::kManifest, testing::kSealedFuzzManifestName,
                             "{\"format_version\":1}"));
  write("plaintext-format1", *EncodeBlob(AsBytes(chunk), Codec::kZstd, 3));
  return 0;
}
