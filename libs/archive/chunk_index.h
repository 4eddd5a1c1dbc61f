// The index of a chunked stream (metadata or payload, DESIGN.md §3): the
// ordered list of the stream's chunks, each with the stream offset where it
// ends and its digest. Chunk i covers [end(i-1), end(i)) with end(-1) = 0.
// The encoded index file is docs/formats/index.md.
#ifndef ARCA_LIBS_ARCHIVE_CHUNK_INDEX_H_
#define ARCA_LIBS_ARCHIVE_CHUNK_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/hash/digest.h"

namespace arca {

// Format constants (docs/formats/index.md). Never change them.
inline constexpr std::string_view kChunkIndexMagic = "ARCAIDX1";
inline constexpr uint32_t kChunkIndexVersion = 1;
inline constexpr size_t kChunkIndexHeaderSize = 32;
inline constexpr size_t kChunkIndexEntrySize = 40;
inline constexpr size_t kChunkIndexChecksumSize = 32;

struct IndexEntry {
  uint64_t end_offset = 0;  // stream offset one past the chunk's last byte
  Digest digest;            // SHA-256 of the chunk's plaintext

  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
};

// The chunks [first, last] (inclusive) that cover a byte range; first_start
// is the stream offset of chunk `first`. empty (and the rest 0) for an empty
// range.
struct ChunkRange {
  size_t first = 0;
  size_t last = 0;  // inclusive
  uint64_t first_start = 0;
  bool empty = true;
};

// Invariants: every chunk is at least 1 byte long; end offsets strictly
// increase; stream_length() is the last end offset (0 when empty).
// Thread-safety: const methods may run concurrently; Append may not.
class ChunkIndex {
 public:
  ChunkIndex() = default;

  // Adds the next chunk of the stream. length must be > 0 and the stream must
  // not pass 2^64 - 1 bytes (violations abort: programming errors).
  void Append(const Digest& digest, uint64_t length);

  size_t size() const { return entries_.size(); }
  uint64_t stream_length() const { return entries_.empty() ? 0 : entries_.back().end_offset; }
  const std::vector<IndexEntry>& entries() const { return entries_; }

  // Start offset and length of chunk i (i < size(), unchecked).
  uint64_t ChunkStart(size_t i) const { return i == 0 ? 0 : entries_[i - 1].end_offset; }
  uint64_t ChunkLength(size_t i) const { return entries_[i].end_offset - ChunkStart(i); }

  // Chunks covering [offset, offset + length), found by binary search.
  // length 0 gives an empty range (offset must still be <= stream_length()).
  // OutOfRange "range [a, b) is beyond the stream's end (n bytes)" when
  // offset + length > stream_length() (or overflows).
  absl::StatusOr<ChunkRange> Find(uint64_t offset, uint64_t length) const;

  // The encoded index file (docs/formats/index.md): header (magic
  // "ARCAIDX1", u32 version 1, u32 stream kind, u64 count, u64
  // stream_length), count × (u64 end_offset, 32-byte digest), then the
  // SHA-256 of all preceding bytes. Exactly 64 + 40 × size() bytes.
  std::string Encode(v1::StreamKind kind) const;

  // Decodes and verifies an index file. `name` (e.g. "<snapshot>/payload.aidx")
  // is used in messages. Errors:
  // - DataLoss "index <name>: <what>" for a truncated file, bad magic, a size
  //   that does not match the count, a checksum mismatch, version 0, a stream
  //   kind other than expected_kind, an end offset that does not increase
  //   (including a zero-length first chunk), stream_length != last end.
  // - FailedPrecondition "index <name>: version N is newer than this arca
  //   supports (1): upgrade arca".
  static absl::StatusOr<ChunkIndex> Decode(std::span<const uint8_t> data,
                                           v1::StreamKind expected_kind, absl::string_view name);

 private:
  std::vector<IndexEntry> entries_;
};

}  // namespace arca

#endif  // ARCA_LIBS_ARCHIVE_CHUNK_INDEX_H_
