#include "libs/blob/blob.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/bytes.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

constexpr char kMagic[4] = {'A', 'R', 'C', 'B'};
constexpr uint8_t kFlagEncrypted = 0x01;

// Probe of large inputs before compressing them whole: 16 slices of 4 KiB,
// evenly spread, compressed together with zstd level 1 (libs/blob/README.md).
constexpr size_t kProbeMinInput = 256 << 10;
constexpr size_t kProbeSlice = 4 << 10;
constexpr size_t kProbeSlices = 16;

// Compression must save at least 1/32 (3.125%) of the input to be kept.
bool WorthKeeping(size_t compressed, size_t raw) {
  return compressed + raw / 32 <= raw && compressed < raw;
}


// zstd levels 1..4 pass incompressible data through at several GB/s on
// their own; higher levels and xz spend as long on it as on text, or longer.
bool WorthProbing(Codec codec, int level) {
  return codec == Codec::kXz || (codec == Codec::kZstd && level >= 5);
}

// True when a sample of `raw` does not compress: the chunk is then stored as
// it is.
bool LooksIncompressible(std::span<const uint8_t> raw) {
  if (raw.size() < kProbeMinInput) return false;
  std::string sample;
  sample.reserve(kProbeSlice * kProbeSlices);
  for (size_t i = 0; i < kProbeSlices; ++i) {
    const size_t at = (raw.size() - kProbeSlice) * i / (kProbeSlices - 1);
    sample.append(reinterpret_cast<const char*>(raw.data() + at), kProbeSlice);
  }
  std::string packed;
  if (!Compress(Codec::kZstd, 1, AsBytes(sample), &packed).ok() ||
      WorthKeeping(packed.size(), sample.size())) {
    return false;
  }
  // The sample does not compress. Confirm on the whole chunk with zstd level
  // 1, which passes incompressible data at several GB/s and still finds
  // compressible stretches between the slices and long-range repeats.
  packed.clear();
  return Compress(Codec::kZstd, 1, raw, &packed).ok() && !WorthKeeping(packed.size(), raw.size());
}

std::string Header(Codec codec, uint64_t raw_length, std::span<const uint8_t> payload) {
  std::string blob(kBlobHeaderSize, '\0');
  uint8_t* h = reinterpret_cast<uint8_t*>(blob.data());
  std::memcpy(h, kMagic, 4);
  PutLittleEndian(h + 4, kBlobFormatVersion, 2);
  h[6] = static_cast<uint8_t>(codec);
  h[7] = 0;
  PutLittleEndian(h + 8, raw_length, 8);
  PutLittleEndian(h + 16, payload.size(), 8);
  PutLittleEndian(h + 24, Crc32c(payload), 4);
  PutLittleEndian(h + 28, Crc32c(std::span<const uint8_t>(h, 28)), 4);
  return blob;
}

absl::Status HeaderError(absl::string_view kind, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("blob header ", kind, ": ", what));
}

}  // namespace

absl::StatusOr<std::string> EncodeBlob(std::span<const uint8_t> raw, Codec codec, int level,
                                       int threads) {
  if (raw.size() > kMaxBlobRawLength) {
    return absl::InvalidArgumentError(absl::StrCat("chunk of ", raw.size(),
                                                   " bytes exceeds the blob limit of ",
                                                   kMaxBlobRawLength, " bytes (64 MiB)"));
  }
  if (absl::Status s = ValidateLevel(codec, level); !s.ok()) return s;
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("compression threads must be at least 1, got ", threads));
  }
  if (codec != Codec::kNone && !(WorthProbing(codec, level) && LooksIncompressible(raw))) {
    std::string payload;
    absl::Status s = Compress(codec, level, raw, &payload, threads);
    if (!s.ok()) return s;
    if (WorthKeeping(payload.size(), raw.size())) {
      std::string blob = Header(codec, raw.size(), AsBytes(payload));
      blob += payload;
      return blob;
    }
  }
  std::string blob = Header(Codec::kNone, raw.size(), raw);
  blob.append(reinterpret_cast<const char*>(raw.data()), raw.size());
  return blob;
}

absl::StatusOr<BlobHeader> ParseBlobHeader(std::span<const uint8_t> blob) {
  if (blob.size() < kBlobHeaderSize) {
    return HeaderError("truncated", absl::StrCat("blob has ", blob.size(),
                                                 " bytes, the header needs ", kBlobHeaderSize));
  }
  const uint8_t* h = blob.data();
  if (std::memcmp(h, kMagic, 4) != 0) {
    return HeaderError("invalid", absl::StrFormat("bad magic %02x %02x %02x %02x, expected "
                                                  "'ARCB' (not an arca blob)",
                                                  h[0], h[1], h[2], h[3]));
  }
  const uint64_t version = GetLittleEndian(h + 4, 2);
  if (version == 2) {
    return HeaderError("invalid", "encrypted blob (format 2): it is opened with the repository's "
                                  "key, not read as a format 1 blob");
  }
  if (version != kBlobFormatVersion) {
    return HeaderError("invalid", absl::StrCat("unsupported format version ", version,
                                               " (this arca reads version ", kBlobFormatVersion,
                                               "; a newer arca may read it)"));
  }
  const uint32_t stored_crc = static_cast<uint32_t>(GetLittleEndian(h + 28, 4));
  const uint32_t crc = Crc32c(blob.first(28));
  if (stored_crc != crc) {
    return HeaderError(
        "corrupt", absl::StrFormat("header CRC32C is 0x%08x, computed 0x%08x", stored_crc, crc));
  }
  const uint8_t flags = h[7];
  if (flags != 0) {
    return HeaderError(
        "invalid",
        absl::StrFormat(
            "flags 0x%02x are not supported in format 1%s", flags,
            (flags & kFlagEncrypted) ? " (bit 0: encrypted blob, needs a newer arca)" : ""));
  }
  const uint8_t codec = h[6];
  if (codec < static_cast<uint8_t>(Codec::kNone) || codec > static_cast<uint8_t>(Codec::kXz)) {
    return HeaderError("invalid", absl::StrCat("unknown codec byte ", codec));
  }
  BlobHeader header;
  header.codec = static_cast<Codec>(codec);
  header.raw_length = GetLittleEndian(h + 8, 8);
  header.stored_length = GetLittleEndian(h + 16, 8);
  header.payload_crc = static_cast<uint32_t>(GetLittleEndian(h + 24, 4));
  if (header.raw_length > kMaxBlobRawLength) {
    return HeaderError("invalid",
                       absl::StrCat("raw length ", header.raw_length, " exceeds the limit of ",
                                    kMaxBlobRawLength, " bytes (64 MiB)"));
  }
  const uint64_t present = blob.size() - kBlobHeaderSize;
  if (header.stored_length > present) {
    return HeaderError("truncated",
                       absl::StrCat("stored length is ", header.stored_length, " bytes but only ",
                                    present, " payload bytes are present"));
  }
  if (header.stored_length < present) {
    return HeaderError("invalid", absl::StrCat("stored length is ", header.stored_length,
                                               " bytes but ", present, " payload bytes follow (",
                                               present - header.stored_length, " trailing bytes)"));
  }
  if (header.codec == Codec::kNone && header.stored_length != header.raw_length) {
    return HeaderError("invalid",
                       absl::StrCat("codec none with stored length ", header.stored_length,
                                    " != raw length ", header.raw_length));
  }
  return header;
}

absl::StatusOr<BlobHeader> CheckBlobFrame(std::span<const uint8_t> blob, const Digest& name) {
  absl::StatusOr<BlobHeader> header = ParseBlobHeader(blob);
  if (!header.ok()) {
    return absl::DataLossError(absl::StrCat("blob ", name.Hex(), ": ", header.status().message()));
  }
  std::span<const uint8_t> payload = blob.subspan(kBlobHeaderSize);
  const uint32_t crc = Crc32c(payload);
  if (crc != header->payload_crc) {
    return absl::DataLossError(
        absl::StrFormat("blob %s: payload CRC32C is 0x%08x, the header says 0x%08x (%d payload "
                        "bytes corrupt)",
                        name.Hex(), crc, header->payload_crc, payload.size()));
  }
  return header;
}

absl::StatusOr<std::string> DecodeBlobUnnamed(std::span<const uint8_t> blob, const Digest& name) {
  absl::StatusOr<BlobHeader> header = CheckBlobFrame(blob, name);
  if (!header.ok()) return header.status();
  std::string raw;
  absl::Status s = Decompress(header->codec, blob.subspan(kBlobHeaderSize), header->raw_length, &raw);
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat("blob ", name.Hex(), ": payload does not decode: ", s.message()));
  }
  return raw;
}

absl::StatusOr<std::string> DecodeBlob(std::span<const uint8_t> blob, const Digest& expected) {
  absl::StatusOr<BlobHeader> header = CheckBlobFrame(blob, expected);
  if (!header.ok()) return header.status();
  const std::string name = absl::StrCat("blob ", expected.Hex(), ": ");
  std::span<const uint8_t> payload = blob.subspan(kBlobHeaderSize);
  std::string raw;
  absl::Status s = Decompress(header->codec, payload, header->raw_length, &raw);
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat(name, "payload does not decode: ", s.message()));
  }
  const Digest actual = Sha256(AsBytes(raw));
  if (actual != expected) {
    return absl::DataLossError(absl::StrCat(name, "content has SHA-256 ", actual.Hex(),
                                            ": the blob holds other data than its name says"));
  }
  return raw;
}

}  // namespace arca
