// The stored form of one chunk (a "blob"): a 32-byte header and the payload,
// the chunk's bytes compressed with the header's codec. Format:
// docs/formats/blob.md.
//
//   offset size  field (little-endian)
//   0      4     magic "ARCB"
//   4      2     format version = 1
//   6      1     codec (1 none, 2 zstd, 3 xz: v1::Codec)
//   7      1     flags = 0 (bit 0 reserved for encryption; others reserved)
//   8      8     raw_length: bytes of the chunk (<= 64 MiB)
//   16     8     stored_length: bytes of the payload after the header
//   24     4     CRC32C of the payload
//   28     4     CRC32C of header bytes 0..27
//   32     ...   payload
//
// Pure functions on bytes, no I/O; thread-safe (codec contexts are per
// thread). Blobs read from a repository are untrusted: the decoders check
// every field and never crash, whatever the input.
#ifndef ARCA_LIBS_BLOB_BLOB_H_
#define ARCA_LIBS_BLOB_BLOB_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "libs/codec/codec.h"
#include "libs/hash/digest.h"

namespace arca {

inline constexpr size_t kBlobHeaderSize = 32;
inline constexpr uint16_t kBlobFormatVersion = 1;
// Chunks are at most 64 MiB (the chunker's max_size limit).
inline constexpr uint64_t kMaxBlobRawLength = 64ull << 20;

// The header fields a reader needs (magic, version and flags are checked by
// ParseBlobHeader and not repeated here).
struct BlobHeader {
  Codec codec = Codec::kNone;
  uint64_t raw_length = 0;
  uint64_t stored_length = 0;
  uint32_t payload_crc = 0;
};

// Encodes the chunk `raw`: compresses it with `codec` at `level` (threads as
// in Compress), but stores it uncompressed (codec kNone) when compression
// saves less than 1/32 (3.125%) of its size.
// For the codecs that are slow on incompressible data (xz, zstd level >= 5),
// inputs of 256 KiB or more are probed first: sixteen 4 KiB slices are
// compressed with zstd level 1; if that saves less than 1/32, the whole input
// is compressed with zstd level 1 (several GB/s on such data), and if that too
// saves less than 1/32 the chunk is stored uncompressed without running the
// slow codec. Measured in libs/blob/README.md.
// Errors: InvalidArgument if raw is larger than kMaxBlobRawLength or the
// level/codec/threads are invalid (see ValidateLevel); Internal if the
// compressor fails.
absl::StatusOr<std::string> EncodeBlob(std::span<const uint8_t> raw, Codec codec, int level,
                                       int threads = 1);

// Parses and checks the header of the complete blob `blob`: its size, magic,
// version, header CRC, flags, codec, raw_length <= kMaxBlobRawLength,
// stored_length == blob.size() - kBlobHeaderSize, and stored_length ==
// raw_length for kNone. Does not read the payload.
// Errors: DataLoss "blob header <truncated|invalid|corrupt>: <what>".
absl::StatusOr<BlobHeader> ParseBlobHeader(std::span<const uint8_t> blob);

// Checks the frame of the blob named `name` without decoding it: the header
// (ParseBlobHeader) and the payload CRC32C. This catches a blob damaged in
// transit or on disk, but not a well-formed blob stored under another
// chunk's name: only DecodeBlob (SHA-256 of the plaintext) binds a blob to
// its name. Returns the header.
// Errors: DataLoss "blob <name.Hex()>: <what is wrong>".
absl::StatusOr<BlobHeader> CheckBlobFrame(std::span<const uint8_t> blob, const Digest& name);

// Fully checks and decodes a blob: the header (ParseBlobHeader), the payload
// CRC32C, decompression to exactly raw_length bytes, and SHA-256 of the
// result == expected. Returns the chunk's bytes.
// Errors: DataLoss "blob <expected.Hex()>: <what is wrong>".
absl::StatusOr<std::string> DecodeBlob(std::span<const uint8_t> blob, const Digest& expected);

// DecodeBlob without the final SHA-256 check, for repositories whose chunk
// ids are keyed (libs/blob/sealed_blob.h checks the id itself). Errors as
// DecodeBlob, naming `name`.
absl::StatusOr<std::string> DecodeBlobUnnamed(std::span<const uint8_t> blob, const Digest& name);

}  // namespace arca

#endif  // ARCA_LIBS_BLOB_BLOB_H_
