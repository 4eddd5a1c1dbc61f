// Compression codecs for chunk payloads: none, zstd (libzstd) and xz
// (liblzma). Pure byte-to-byte functions, no I/O.
//
// Thread-safety: every function is thread-safe. Compression and
// decompression contexts are cached per thread (thread_local), so a thread
// that compresses many chunks pays the context set-up once.
//
// Stream formats: kZstd writes one zstd frame with the content size and the
// XXH64 content checksum; kXz writes one .xz stream (LZMA2, CRC32 check) whose
// dictionary is never larger than the input needs. Both decoders accept any
// valid stream of their format within the limits stated below.
#ifndef ARCA_LIBS_CODEC_CODEC_H_
#define ARCA_LIBS_CODEC_CODEC_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca {

// The same numbers as v1::Codec. They reach disk (the blob header's codec
// byte): never renumber.
enum class Codec : uint8_t { kNone = 1, kZstd = 2, kXz = 3 };

// "none", "zstd" or "xz" (exact, lower case). InvalidArgument otherwise:
// "unknown compression 'x': use zstd, xz or none".
absl::StatusOr<Codec> ParseCodec(absl::string_view name);

// "none", "zstd", "xz"; "unknown" for a value outside the enum.
std::string_view CodecName(Codec codec);

// Level used when the user names none: zstd 3, xz 6, none 0.
int DefaultLevel(Codec codec);

// zstd accepts 1..19, xz 0..9, none only 0. InvalidArgument naming the codec,
// the level and the valid range otherwise.
absl::Status ValidateLevel(Codec codec, int level);

// Inputs at least this large are split among `threads` workers when
// threads > 1 (zstd jobs / xz blocks). Smaller inputs use one thread: the
// pipeline already compresses different chunks in parallel.
inline constexpr size_t kMinParallelCompressInput = 1 << 20;

// Appends the compressed form of `input` to *out (existing contents are kept).
// threads > 1 uses the codec's own multithreading (zstd workers, xz block MT)
// for inputs of at least kMinParallelCompressInput bytes.
// Errors: InvalidArgument for a bad level (see ValidateLevel), threads < 1 or
// an unknown codec; Internal if the library fails (out of memory).
absl::Status Compress(Codec codec, int level, std::span<const uint8_t> input, std::string* out,
                      int threads = 1);

// Largest raw_length Decompress accepts (it allocates raw_length bytes up
// front). Callers bound it further (a blob holds at most 64 MiB).
inline constexpr uint64_t kMaxDecompressedLength = 1ull << 32;

// Appends exactly `raw_length` decompressed bytes to *out. On error *out is
// restored to its previous size.
// Errors: DataLoss if the stream is corrupt, truncated, followed by trailing
// bytes, fails its checksum, or decodes to another length than raw_length
// (for kNone: input.size() != raw_length); InvalidArgument for an unknown
// codec or raw_length > kMaxDecompressedLength. An xz stream that needs more
// than 256 MiB of decoder memory is reported as DataLoss (arca never writes
// one).
absl::Status Decompress(Codec codec, std::span<const uint8_t> input, uint64_t raw_length,
                        std::string* out);

}  // namespace arca

#endif  // ARCA_LIBS_CODEC_CODEC_H_
