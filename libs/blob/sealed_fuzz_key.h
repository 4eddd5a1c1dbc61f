// The fixed key, chunk and names of sealed_blob_fuzz and its seed corpus
// (make_sealed_corpus): test data only, never a real repository's key.
#ifndef ARCA_LIBS_BLOB_SEALED_FUZZ_KEY_H_
#define ARCA_LIBS_BLOB_SEALED_FUZZ_KEY_H_

#include <string>

#include "libs/crypto/repository_key.h"

namespace arca::testing {

inline constexpr char kSealedFuzzManifestName[] = "snapshots/g/20260101T000000.000000000Z/manifest.json";

inline const RepositoryKey& SealedFuzzKey() {
  static const RepositoryKey key = [] {
    std::string material(RepositoryKey::kMaterialSize, '\0');
    for (size_t i = 0; i < material.size(); ++i) material[i] = static_cast<char>(i * 7 + 3);
    return *RepositoryKey::FromMaterial(material);
  }();
  return key;
}

// The chunk the corpus seals: "arca sealed fuzz chunk" repeated 100 times.
inline std::string SealedFuzzChunk() {
  std::string s;
  for (int i = 0; i < 100; ++i) s += "arca sealed fuzz chunk ";
  return s;
}

inline Digest SealedFuzzChunkId() {
  const std::string c = SealedFuzzChunk();
  return SealedFuzzKey().ChunkId(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(c.data()), c.size()));
}

}  // namespace arca::testing

#endif  // ARCA_LIBS_BLOB_SEALED_FUZZ_KEY_H_
