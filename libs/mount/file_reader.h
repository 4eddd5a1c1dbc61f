// Reads one regular file of a snapshot at any offset for `arca mount`: maps
// file offsets to its payload stream (holes of a sparse file read as zeros)
// and keeps the chunks after the last read being fetched and decoded on
// background threads, so a sequential read of a big file runs at about the
// speed of a restore (which reads ahead the same way).
//
// Memory: at most `readahead_chunks` + 1 chunks fetched ahead plus the 4
// most recently used chunks.
//
// Thread-safety: Read from one thread at a time; the read-ahead threads are
// internal. The ChunkSource must be thread-safe and outlive the reader.
#ifndef ARCA_LIBS_MOUNT_FILE_READER_H_
#define ARCA_LIBS_MOUNT_FILE_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/stream_reader.h"
#include "libs/pipeline/read_ahead_chunk_source.h"

namespace arca::mount {

struct ReadAhead {
  size_t chunks = 16;  // 0: no read-ahead (chunks are fetched when read)
  size_t threads = 2;
};

class FileReader {
 public:
  // `entry` is a REGULAR entry (size, payload, extents, sparse are used);
  // `payload_index` is its snapshot's payload index; `what` names the file
  // in messages ("<snapshot>:<path>").
  FileReader(const v1::Entry& entry, std::shared_ptr<const ChunkIndex> payload_index,
             ChunkSource* chunks, const ReadAhead& read_ahead, std::string what);
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  uint64_t size() const { return size_; }

  // Fills `out` with the file's bytes at `offset`: out.size() bytes, fewer
  // only at the end of the file (0 at or after it). DataLoss naming the file
  // and the offset when the payload is missing, corrupt or shorter than the
  // entry says (run arca verify).
  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out);

 private:
  struct Extent {
    uint64_t offset;   // in the file
    uint64_t length;
    uint64_t payload;  // offset in the payload stream
  };

  absl::Status ReadPayload(uint64_t payload_offset, uint64_t file_offset, std::span<uint8_t> out);

  const uint64_t size_;
  std::vector<Extent> extents_;  // sorted, disjoint
  const std::string what_;
  std::shared_ptr<const ChunkIndex> index_;
  std::unique_ptr<ReadAheadChunkSource> ahead_;  // null without read-ahead
  StreamReader stream_;  // after ahead_: destroyed first
};

}  // namespace arca::mount

#endif  // ARCA_LIBS_MOUNT_FILE_READER_H_
