// Sequential and random access to a chunked stream through its ChunkIndex.
#ifndef ARCA_LIBS_ARCHIVE_STREAM_READER_H_
#define ARCA_LIBS_ARCHIVE_STREAM_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/hash/digest.h"

namespace arca {

// Supplies the plaintext of a chunk (e.g. from the chunk store: read,
// decompress, verify). Implementations verify the plaintext against `digest`
// before returning it; `expected_length` is the length the index gives (a
// hint; the StreamReader checks it again). Errors are the implementation's
// (NotFound for a missing chunk, DataLoss for a corrupt one, ...).
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                                      uint64_t expected_length) = 0;
};

// Reads a stream through its index, fetching chunks from a ChunkSource and
// keeping the `cache_chunks` most recently used ones (at least 1) so that
// sequential reads and nearby random reads fetch each chunk once. A chunk
// used at several places of the stream (same digest) is fetched once while
// cached. `index` and `source` must outlive the reader. Not thread-safe.
class StreamReader final : public ByteSource {
 public:
  StreamReader(const ChunkIndex* index, ChunkSource* source, size_t cache_chunks = 4);

  // Reads up to buf.size() bytes from position() onwards, across chunk
  // boundaries, and advances the position past them; 0 at the end. Fewer
  // bytes only at the end of the stream, or when a later chunk of the range
  // fails: then the bytes before it are returned and the next call returns
  // the error. Errors (the position is unchanged):
  // - DataLoss "stream offset <o>: chunk <hex> has <n> bytes, but the index
  //   says <m>" when the source returns a chunk of the wrong length;
  // - the source's errors, with their code, prefixed
  //   "stream offset <o>: chunk <hex>: ".
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) override;

  // Moves the position. OutOfRange when offset > stream length (offset ==
  // stream length is the end: Read returns 0).
  absl::Status Seek(uint64_t offset);

  // Reads up to buf.size() bytes at `offset` without moving position();
  // fewer only at the end of the stream or before a failing chunk, as for
  // Read. OutOfRange when offset > stream length; other errors as for Read.
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf);

  uint64_t position() const { return position_; }

  // Number of GetChunk calls made so far (for tests and statistics).
  uint64_t chunks_fetched() const { return chunks_fetched_; }

 private:
  struct CacheSlot {
    Digest digest;
    std::shared_ptr<const std::string> data;
    uint64_t last_used = 0;
  };
  // The verified plaintext of chunk i.
  absl::StatusOr<const std::string*> Chunk(size_t i);
  // Index of the chunk holding `offset` (< stream length).
  size_t ChunkAt(uint64_t offset);

  const ChunkIndex* index_;
  ChunkSource* source_;
  size_t cache_capacity_;
  std::vector<CacheSlot> cache_;
  uint64_t use_clock_ = 0;
  uint64_t position_ = 0;
  size_t hint_ = 0;  // chunk of the last access, tried before a binary search
  uint64_t chunks_fetched_ = 0;
};

}  // namespace arca

#endif  // ARCA_LIBS_ARCHIVE_STREAM_READER_H_
