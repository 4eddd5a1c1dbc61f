#include "libs/blob/sealed_blob.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/bytes.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

constexpr char kMagic[4] = {'A', 'R', 'C', 'B'};
constexpr uint8_t kFlagEncrypted = 0x01;


std::string_view Chars(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Header bytes 0..15 and the name: what the GCM tag authenticates besides
// the ciphertext.
std::string Aad(std::span<const uint8_t> header16, std::string_view name) {
  return absl::StrCat(Av(Chars(header16.first(16))), Av(name));
}

}  // namespace

bool LooksSealed(std::span<const uint8_t> blob) {
  return blob.size() >= 6 && std::memcmp(blob.data(), kMagic, 4) == 0 &&
         GetLittleEndian(blob.data() + 4, 2) == kSealedBlobFormatVersion;
}

std::string SealBlob(const RepositoryKey& key, SealedKind kind, std::string_view name,
                     std::string_view plaintext) {
  std::string out(kBlobHeaderSize, '\0');
  auto* h = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(h, kMagic, 4);
  PutLittleEndian(h + 4, kSealedBlobFormatVersion, 2);
  h[6] = static_cast<uint8_t>(kind);
  h[7] = kFlagEncrypted;
  // Bytes 8..15 stay zero (reserved).
  const std::string aad = Aad(std::span<const uint8_t>(h, 16), name);
  out.reserve(kBlobHeaderSize + plaintext.size() + kGcmOverhead);
  AesGcmSeal(key.data_key(), aad, plaintext, &out);
  h = reinterpret_cast<uint8_t*>(out.data());
  const uint64_t stored = out.size() - kBlobHeaderSize;
  PutLittleEndian(h + 16, stored, 8);
  PutLittleEndian(h + 24, Crc32c(AsBytes(std::string_view(out).substr(kBlobHeaderSize))), 4);
  PutLittleEndian(h + 28, Crc32c(std::span<const uint8_t>(h, 28)), 4);
  return out;
}

absl::StatusOr<SealedKind> CheckSealedFrame(std::span<const uint8_t> blob, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(absl::StrCat(Av(what), ": ", Av(why)));
  };
  if (blob.size() < kBlobHeaderSize) {
    return bad(absl::StrCat("encrypted blob truncated: ", blob.size(), " bytes, the header needs ",
                            kBlobHeaderSize));
  }
  const uint8_t* h = blob.data();
  if (std::memcmp(h, kMagic, 4) != 0) return bad("bad magic: not an arca blob");
  const uint64_t version = GetLittleEndian(h + 4, 2);
  if (version != kSealedBlobFormatVersion) {
    return bad(absl::StrCat("format version ", version,
                            " is not an encrypted blob (format 2): this repository is encrypted, "
                            "so every object must be sealed"));
  }
  const uint32_t stored_crc = static_cast<uint32_t>(GetLittleEndian(h + 28, 4));
  const uint32_t crc = Crc32c(blob.first(28));
  if (stored_crc != crc) {
    return bad(absl::StrFormat("header CRC32C is 0x%08x, computed 0x%08x", stored_crc, crc));
  }
  if (h[7] != kFlagEncrypted) return bad(absl::StrFormat("flags 0x%02x, expected 0x01", h[7]));
  if (h[6] < 1 || h[6] > 4) return bad(absl::StrCat("unknown content kind ", h[6]));
  if (GetLittleEndian(h + 8, 8) != 0) return bad("reserved header bytes 8..15 are not zero");
  const uint64_t stored = GetLittleEndian(h + 16, 8);
  const uint64_t present = blob.size() - kBlobHeaderSize;
  if (stored != present) {
    return bad(absl::StrCat("stored length is ", stored, " bytes but ", present,
                            " follow the header (truncated or trailing bytes)"));
  }
  if (stored < kGcmOverhead) {
    return bad(absl::StrCat("stored length ", stored, " is shorter than nonce and tag"));
  }
  const uint32_t payload_crc = Crc32c(blob.subspan(kBlobHeaderSize));
  if (payload_crc != static_cast<uint32_t>(GetLittleEndian(h + 24, 4))) {
    return bad(absl::StrFormat("payload CRC32C is 0x%08x, the header says 0x%08x", payload_crc,
                               static_cast<uint32_t>(GetLittleEndian(h + 24, 4))));
  }
  return static_cast<SealedKind>(h[6]);
}

absl::StatusOr<std::string> OpenSealedBlob(const RepositoryKey& key, SealedKind kind,
                                           std::string_view name, std::span<const uint8_t> blob,
                                           std::string_view what) {
  absl::StatusOr<SealedKind> found = CheckSealedFrame(blob, what);
  if (!found.ok()) return found.status();
  if (*found != kind) {
    return absl::DataLossError(absl::StrCat(Av(what), ": holds content kind ",
                                            static_cast<int>(*found), ", expected ",
                                            static_cast<int>(kind)));
  }
  if (!key.has_data_key()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Av(what), ": this process holds only the chunk id key, not the data key"));
  }
  absl::StatusOr<std::string> plain = AesGcmOpen(
      key.data_key(), Aad(blob.first(16), name), Chars(blob.subspan(kBlobHeaderSize)));
  if (!plain.ok()) return absl::DataLossError(absl::StrCat(Av(what), ": ", plain.status().message()));
  return plain;
}

Digest ChunkIdOf(std::span<const uint8_t> raw, const RepositoryKey* key) {
  return key == nullptr ? Sha256(raw) : key->ChunkId(raw);
}

std::string SealedChunkName(const Digest& id) { return absl::StrCat("chunk/", id.Hex()); }

absl::StatusOr<std::string> EncodeChunkBlob(std::span<const uint8_t> raw, const Digest& id,
                                            Codec codec, int level, const RepositoryKey* key,
                                            int threads) {
  absl::StatusOr<std::string> blob = EncodeBlob(raw, codec, level, threads);
  if (!blob.ok() || key == nullptr) return blob;
  return SealBlob(*key, SealedKind::kChunk, SealedChunkName(id), *blob);
}

absl::StatusOr<std::string> OpenChunkBlob(std::span<const uint8_t> blob, const Digest& id,
                                          const RepositoryKey* key) {
  if (key == nullptr) {
    absl::StatusOr<BlobHeader> header = CheckBlobFrame(blob, id);
    if (!header.ok()) return header.status();
    return std::string(Chars(blob));
  }
  absl::StatusOr<std::string> inner =
      OpenSealedBlob(*key, SealedKind::kChunk, SealedChunkName(id), blob,
                     absl::StrCat("blob ", id.Hex()));
  if (!inner.ok()) return inner.status();
  absl::StatusOr<BlobHeader> header = CheckBlobFrame(AsBytes(*inner), id);
  if (!header.ok()) return header.status();
  return inner;
}

absl::StatusOr<std::string> DecodeOpenedChunkBlob(std::span<const uint8_t> blob,
                                                  const Digest& expected,
                                                  const RepositoryKey* key) {
  if (key == nullptr) return DecodeBlob(blob, expected);
  absl::StatusOr<std::string> raw = DecodeBlobUnnamed(blob, expected);
  if (!raw.ok()) return raw.status();
  if (key->ChunkId(AsBytes(*raw)) != expected) {
    return absl::DataLossError(absl::StrCat(
        "blob ", expected.Hex(),
        ": content has another keyed id: the blob holds other data than its name says"));
  }
  return raw;
}

absl::StatusOr<std::string> DecodeChunkBlob(std::span<const uint8_t> blob, const Digest& expected,
                                            const RepositoryKey* key) {
  if (key == nullptr) return DecodeBlob(blob, expected);
  absl::StatusOr<std::string> inner = OpenChunkBlob(blob, expected, key);
  if (!inner.ok()) return inner.status();
  return DecodeOpenedChunkBlob(AsBytes(*inner), expected, key);
}

absl::Status CheckSealedChunkFrame(std::span<const uint8_t> blob, const Digest& id) {
  absl::StatusOr<SealedKind> kind = CheckSealedFrame(blob, absl::StrCat("blob ", id.Hex()));
  if (!kind.ok()) return kind.status();
  if (*kind != SealedKind::kChunk) {
    return absl::DataLossError(absl::StrCat("blob ", id.Hex(), ": holds content kind ",
                                            static_cast<int>(*kind), ", not a chunk"));
  }
  return absl::OkStatus();
}

}  // namespace arca
