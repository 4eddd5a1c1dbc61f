// A snapshot opened for inspection (arca cat, arca diff): its metadata stream
// read entry by entry in archive order, and random access to its payload
// stream, both through the repository's chunk store.
#ifndef ARCA_LIBS_PIPELINE_SNAPSHOT_READER_H_
#define ARCA_LIBS_PIPELINE_SNAPSHOT_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/store/repository.h"

namespace arca {

// One chunk of the payload stream holding part of a byte range: the bytes
// [begin, end) of the chunk with this digest (offsets inside the chunk).
struct PayloadPiece {
  Digest digest;
  uint64_t begin = 0;
  uint64_t end = 0;
  friend bool operator==(const PayloadPiece&, const PayloadPiece&) = default;
};

// Not thread-safe; `repo` must outlive the reader.
class SnapshotReader {
 public:
  // Loads the manifest and both indexes. NotFound for an unknown snapshot
  // (the repository's message), DataLoss for a corrupt index.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> Open(Repository& repo,
                                                              absl::string_view snapshot);
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;

  const v1::Manifest& manifest() const { return loaded_.manifest; }
  const std::string& id() const { return loaded_.manifest.id(); }

  // The next entry of the metadata stream in archive order (true), or false
  // at its end. Errors: the MetadataStreamReader's (DataLoss on corruption).
  absl::StatusOr<bool> Next(v1::Entry* entry) { return metadata_reader_->Next(entry); }

  // Fills `out` with the payload bytes at `offset`. DataLoss when the stream
  // ends early or a chunk is missing or corrupt.
  absl::Status ReadPayload(uint64_t offset, std::span<uint8_t> out);

  // The chunks that hold payload bytes [offset, offset + length), with the
  // part of each that the range uses; empty for length 0. DataLoss when the
  // range is beyond the payload stream.
  absl::StatusOr<std::vector<PayloadPiece>> PayloadPieces(uint64_t offset, uint64_t length) const;

 private:
  SnapshotReader() = default;

  LoadedSnapshot loaded_;
  ChunkIndex metadata_index_;
  ChunkIndex payload_index_;
  std::unique_ptr<RepositoryChunkSource> source_;
  std::unique_ptr<StreamReader> metadata_stream_;
  std::unique_ptr<StreamReader> payload_stream_;
  std::unique_ptr<MetadataStreamReader> metadata_reader_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SNAPSHOT_READER_H_
