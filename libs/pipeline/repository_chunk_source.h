// ChunkSource over a ChunkStore: fetches a blob, checks and decodes it
// (CRC32C, decompression, SHA-256, length; for an encrypted repository the
// seal and the keyed id too). Thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_
#define ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_

#include <memory>
#include <string>

#include "libs/archive/stream_reader.h"
#include "libs/crypto/repository_key.h"
#include "libs/store/chunk_store.h"

namespace arca {

class RepositoryChunkSource final : public ChunkSource {
 public:
  // `key`: the repository's (null if plaintext; Repository::key()). Not owned.
  RepositoryChunkSource(ChunkStore* store, const RepositoryKey* key) : store_(store), key_(key) {}

  // DataLoss "chunk <hex> ..." when the chunk is missing, corrupt, or not
  // expected_length bytes long: every error here means the repository lost
  // data (exit 8). A blob that was read but fails verification is moved
  // aside (ChunkStore::MoveAside: chunks/ab/cd/<hex>.bad locally), so the
  // next backup of that data stores it again; the message says where.
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override;

 private:
  ChunkStore* store_;
  const RepositoryKey* key_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REPOSITORY_CHUNK_SOURCE_H_
