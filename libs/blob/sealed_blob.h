// Blob format 2: an encrypted repository's blobs (docs/formats/encryption.md).
// Every stored object of such a repository — chunks, index files, manifests
// — is one sealed blob: a 32-byte header in the clear (magic, version 2, the
// kind of content, the encrypted flag, the stored length, CRC32Cs) and
// nonce || AES-256-GCM ciphertext || tag. The header's first 16 bytes and
// the object's name are the GCM associated data, so a blob moved to another
// name (a swapped chunk, a replayed manifest) does not open.
//
// A sealed chunk's plaintext is a complete format 1 blob (blob.h: codec,
// raw length, CRC and the compressed chunk): compression happens before
// encryption. Its name is the keyed chunk id (RepositoryKey::ChunkId).
//
// The functions here take `key` = nullptr for a plaintext repository and
// then are the format 1 functions of blob.h, so callers need one code path.
// Pure functions on bytes; thread-safe.
#ifndef ARCA_LIBS_BLOB_SEALED_BLOB_H_
#define ARCA_LIBS_BLOB_SEALED_BLOB_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/blob/blob.h"
#include "libs/crypto/repository_key.h"
#include "libs/hash/digest.h"

namespace arca {

inline constexpr uint16_t kSealedBlobFormatVersion = 2;

// What a sealed blob holds (header byte 6). Never renumbered.
enum class SealedKind : uint8_t {
  kChunk = 1,
  kMetadataIndex = 2,
  kPayloadIndex = 3,
  kManifest = 4,
};

// Seals `plaintext` as a format 2 blob of `kind` stored under `name` (the
// associated data). `key` must have a data key.
std::string SealBlob(const RepositoryKey& key, SealedKind kind, std::string_view name,
                     std::string_view plaintext);

// Checks the clear frame of a format 2 blob (header, CRCs, lengths) without
// the key; returns its kind. Errors: DataLoss "<what>: ..." (for a format 1
// blob too: "not an encrypted blob").
absl::StatusOr<SealedKind> CheckSealedFrame(std::span<const uint8_t> blob, std::string_view what);

// Checks the frame, the kind and the GCM tag (which binds `name`) and
// returns the plaintext. Errors: DataLoss "<what>: ..." naming what failed.
absl::StatusOr<std::string> OpenSealedBlob(const RepositoryKey& key, SealedKind kind,
                                           std::string_view name, std::span<const uint8_t> blob,
                                           std::string_view what);

// --- chunks ---------------------------------------------------------------
// The id of a chunk: SHA-256 (plaintext repository) or the key's HMAC.
Digest ChunkIdOf(std::span<const uint8_t> raw, const RepositoryKey* key);

// The name a sealed chunk is bound to (its GCM associated data).
std::string SealedChunkName(const Digest& id);

// EncodeBlob, then sealed under `key` (format 2) when `key` is not null.
absl::StatusOr<std::string> EncodeChunkBlob(std::span<const uint8_t> raw, const Digest& id,
                                            Codec codec, int level, const RepositoryKey* key,
                                            int threads = 1);

// Full check and decode of a stored chunk: opens the seal (with `key`),
// decodes the inner format 1 blob, and checks that the content has the id
// `expected` (ChunkIdOf). Errors: DataLoss "blob <hex>: ...".
absl::StatusOr<std::string> DecodeChunkBlob(std::span<const uint8_t> blob, const Digest& expected,
                                            const RepositoryKey* key);

// Opens the seal of a stored chunk and returns the inner format 1 blob,
// checked as CheckBlobFrame does (no decompression, no id check). With a
// null key, CheckBlobFrame and the blob itself. Errors: DataLoss.
absl::StatusOr<std::string> OpenChunkBlob(std::span<const uint8_t> blob, const Digest& id,
                                          const RepositoryKey* key);

// Decodes an inner format 1 chunk blob and checks its id with `key` (which
// may hold only the id key, RepositoryKey::FromIdKey): a role that receives
// opened blobs. Null key: DecodeBlob.
absl::StatusOr<std::string> DecodeOpenedChunkBlob(std::span<const uint8_t> blob,
                                                  const Digest& expected,
                                                  const RepositoryKey* key);

// What a reader without the key can check of a chunk stored in an encrypted
// repository: CheckSealedFrame (a format 1 blob is "not an encrypted blob")
// and kind chunk. DataLoss "blob <hex>: ..." otherwise.
absl::Status CheckSealedChunkFrame(std::span<const uint8_t> blob, const Digest& id);

// True if `blob` starts like a format 2 blob (magic and version), whatever
// else is wrong with it.
bool LooksSealed(std::span<const uint8_t> blob);

}  // namespace arca

#endif  // ARCA_LIBS_BLOB_SEALED_BLOB_H_
