// ChunkSource over a ChunkStore: fetches a blob, checks and decodes it
// (CRC32C, decompression, SHA-256, length). Thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_
#define ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_

#include <memory>
#include <string>

#include "libs/archive/stream_reader.h"
#include "libs/store/chunk_store.h"

namespace arca {

class RepositoryChunkSource final : public ChunkSource {
 public:
  explicit RepositoryChunkSource(ChunkStore* store) : store_(store) {}

  // DataLoss "chunk <hex> ..." when the chunk is missing, corrupt, or not
  // expected_length bytes long: every error here means the repository lost
  // data (exit 8). A blob that was read but fails verification is moved
  // aside (ChunkStore::MoveAside: chunks/ab/cd/<hex>.bad locally), so the
  // next backup of that data stores it again; the message says where.
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override;

 private:
  ChunkStore* store_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_
