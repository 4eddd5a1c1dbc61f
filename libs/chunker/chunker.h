// Content-defined chunking (FastCDC-style): splits a byte stream into chunks
// whose boundaries depend only on the bytes near them, so that an insertion
// or deletion moves only the boundaries around it and the chunks of the rest
// of the stream keep their ids.
//
// The boundary rule is a format (chunks already stored are reused only when
// the same rule cuts the same bytes): docs/formats/chunker.md describes it,
// and chunker_test.cc pins the gear table and golden boundaries.
//
// Thread-safety: a Chunker is not thread-safe (one per stream); distinct
// Chunkers may be used from different threads. ChunkerParams is a value.
#ifndef ARCA_LIBS_CHUNKER_CHUNKER_H_
#define ARCA_LIBS_CHUNKER_CHUNKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "arca/v1/repository.pb.h"

namespace arca {

// Bounds enforced by ChunkerParams::Validate.
inline constexpr uint32_t kMinChunkerMinSize = 64u << 10;  // 64 KiB
inline constexpr uint32_t kMaxChunkerMaxSize = 64u << 20;  // 64 MiB (blob limit)

// Chunk size parameters of one stream, stored in the repository config.
struct ChunkerParams {
  uint32_t min_size = 0;
  uint32_t avg_size = 0;  // the target; a power of two
  uint32_t max_size = 0;

  // Payload stream (file contents): min 256 KiB, avg 1 MiB, max 4 MiB.
  // Chosen by measurement, see libs/chunker/README.md.
  static ChunkerParams PayloadDefault();
  // Metadata stream (entries): min 64 KiB, avg 256 KiB, max 1 MiB.
  static ChunkerParams MetadataDefault();

  // OK when 64 KiB <= min_size < avg_size < max_size <= 64 MiB and avg_size
  // is a power of two. InvalidArgument naming the bad value otherwise.
  absl::Status Validate() const;

  // Field-for-field conversion; no validation (call Validate).
  static ChunkerParams FromProto(const v1::ChunkerParams& proto);
  v1::ChunkerParams ToProto() const;

  friend bool operator==(const ChunkerParams&, const ChunkerParams&) = default;
};

// Finds chunk boundaries in a stream fed to it piece by piece.
//
// Rule (docs/formats/chunker.md): a chunk of length L (counted from its first
// byte) ends after its L-th byte when L == max_size, or when L >= min_size
// and the gear hash of its last 64 bytes, h = sum(gear[b[L-1-j]] << j) mod
// 2^64 for j in 0..63, is below 2^(64-bits), where bits = log2(avg_size) + 2
// while L < avg_size and log2(avg_size) - 2 from then on (normalized
// chunking). Bytes before offset min_size - 64 are never hashed.
// The boundaries do not depend on how the stream is split into Scan calls.
//
// Cheap to create and copy (a 2 KiB gear table and two counters).
class Chunker {
 public:
  // `params` must satisfy params.Validate() (checked with assert in debug
  // builds; other values give unspecified but bounded chunks). `seed` selects
  // the gear table: 0 is the built-in table of the format.
  explicit Chunker(const ChunkerParams& params, uint64_t seed = 0);

  // Scans `data`, which continues the current chunk. Returns n in
  // [1, data.size()] when the current chunk ends after data[n-1]: the next
  // call starts a new chunk with data[n]. Returns 0 when all of `data`
  // belongs to the current chunk (always for empty data). A chunk never
  // exceeds max_size, and is never shorter than min_size except the last
  // chunk of a stream or one ended by Reset().
  size_t Scan(std::span<const uint8_t> data);

  // Forgets the current chunk: the next byte starts a new one (a forced
  // boundary, e.g. at the start of a large file).
  void Reset();

  // Bytes in the current chunk so far (0 right after a boundary).
  uint64_t current_length() const { return length_; }

  const ChunkerParams& params() const { return params_; }

  // The gear table for `seed`: entry i is the (i+1)-th output of splitmix64
  // started from state `seed`. Part of the format.
  static std::array<uint64_t, 256> GearTable(uint64_t seed);

 private:
  ChunkerParams params_;
  uint64_t min_, avg_, max_;  // params_, sanitised: 1 <= min <= avg <= max
  uint64_t hash_start_;       // min_size - 64: first chunk offset that is hashed
  uint64_t strict_limit_;     // hash must be below this while L < avg_size
  uint64_t loose_limit_;      // ... and below this from avg_size on
  uint64_t length_ = 0;       // bytes of the current chunk seen so far
  uint64_t hash_ = 0;         // gear hash of the current chunk's last 64 bytes
  std::array<uint64_t, 256> gear_;
};

}  // namespace arca

#endif  // ARCA_LIBS_CHUNKER_CHUNKER_H_
