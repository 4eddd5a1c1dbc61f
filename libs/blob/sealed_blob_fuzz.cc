// Fuzz target for the sealed blob readers (blob format 2,
// docs/formats/encryption.md), run as a test by //libs/testing:fuzz_driver
// over testdata/sealed_corpus/ (made by make_sealed_corpus with the same
// fixed key). Whatever the input: a status, never a crash; corruption is
// DataLoss; nothing opens unless it was sealed under the key and name.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "libs/blob/sealed_blob.h"
#include "libs/hash/crc32c.h"
#include "libs/blob/sealed_fuzz_key.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "sealed_blob_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

void PutLe32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

void Read(std::span<const uint8_t> in) {
  const arca::RepositoryKey& key = arca::testing::SealedFuzzKey();
  absl::StatusOr<arca::SealedKind> kind = arca::CheckSealedFrame(in, "fuzz");
  Check(kind.ok() || kind.status().code() == absl::StatusCode::kDataLoss, "frame: DataLoss");
  const arca::Digest id = arca::testing::SealedFuzzChunkId();
  absl::StatusOr<std::string> chunk = arca::DecodeChunkBlob(in, id, &key);
  if (chunk.ok()) {
    Check(key.ChunkId(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(chunk->data()),
                                               chunk->size())) == id,
          "a decoded chunk has its keyed id");
  } else {
    Check(chunk.status().code() == absl::StatusCode::kDataLoss, "chunk: DataLoss");
  }
  Check(arca::CheckSealedChunkFrame(in, id).ok() ||
            arca::CheckSealedChunkFrame(in, id).code() == absl::StatusCode::kDataLoss,
        "stored frame: DataLoss");
  absl::StatusOr<std::string> manifest = arca::OpenSealedBlob(
      key, arca::SealedKind::kManifest, arca::testing::kSealedFuzzManifestName, in, "manifest");
  Check(manifest.ok() || manifest.status().code() == absl::StatusCode::kDataLoss,
        "manifest: DataLoss");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  Read(in);
  // A mutation almost never survives the CRCs: read a copy whose CRCs are
  // recomputed, so that it reaches the GCM open (which must refuse it
  // unless nothing that is authenticated changed).
  if (size >= arca::kBlobHeaderSize) {
    std::string fixed(reinterpret_cast<const char*>(data), size);
    PutLe32(fixed, 24, arca::Crc32c(std::string_view(fixed).substr(32)));
    PutLe32(fixed, 28, arca::Crc32c(std::string_view(fixed).substr(0, 28)));
    Read(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size()));
  }
  return 0;
}
