// The archive phase (the chunker service's logic): turns a sequence of
// entries and file data into the two streams of a snapshot (DESIGN.md §3),
// cuts each with content-defined chunking and hands every chunk, in stream
// order, to a ChunkConsumer. Not thread-safe: one archive, one thread.
#ifndef ARCA_LIBS_PIPELINE_ARCHIVE_BUILDER_H_
#define ARCA_LIBS_PIPELINE_ARCHIVE_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "libs/archive/metadata_stream.h"
#include "libs/chunker/chunker.h"
#include "libs/hash/digest.h"
#include "libs/pipeline/archive_sink.h"

namespace arca {

// A heap buffer without zero-initialisation (file data is read straight
// into it). Move-only.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(size_t capacity) : data_(new uint8_t[capacity]), capacity_(capacity) {}
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void set_size(size_t n) { size_ = n; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// One chunk of one stream, before hashing and compression.
struct PendingChunk {
  v1::StreamKind stream = v1::STREAM_KIND_UNSPECIFIED;
  uint64_t seq = 0;     // index of the chunk in its stream
  uint64_t offset = 0;  // stream offset of its first byte
  ByteBuffer data;
  // A chunk reused from the parent snapshot (change detection): only its
  // identity travels; data is empty and the chunk is already stored.
  bool known = false;
  Digest known_digest;
  uint64_t known_length = 0;

  uint64_t length() const { return known ? known_length : data.size(); }
};

class ChunkConsumer {
 public:
  virtual ~ChunkConsumer() = default;
  // Takes a finished chunk. An error stops the archive (it is returned by
  // the ArchiveBuilder call that produced the chunk).
  virtual absl::Status Consume(PendingChunk chunk) = 0;
};

// Cuts one stream into chunks.
class StreamCutter {
 public:
  StreamCutter(v1::StreamKind kind, const ChunkerParams& params, uint64_t chunker_seed,
               ChunkConsumer* out);

  // A writable region of n bytes (n <= kMaxReserve) at the stream's end;
  // valid until the next call. Then Commit(k) with k <= n bytes written.
  uint8_t* Reserve(size_t n);
  absl::Status Commit(size_t n);
  // Copies data in (for small writes such as metadata records).
  absl::Status Append(std::span<const uint8_t> data);
  // Emits the last, short chunk (if any bytes are pending).
  absl::Status Finish();
  // Ends the current chunk here (if it holds any bytes) and restarts the
  // chunker: the next byte starts a new chunk.
  absl::Status ForceBoundary() { return Finish(); }
  // Appends an already stored chunk of `length` bytes to the stream (after a
  // forced boundary). Returns the stream offset where it starts.
  absl::StatusOr<uint64_t> InjectKnown(const Digest& digest, uint64_t length);

  uint64_t length() const { return emitted_ + current_.size(); }
  uint64_t chunks() const { return seq_; }

  static constexpr size_t kMaxReserve = 4u << 20;

 private:
  absl::Status Cut(size_t at);

  v1::StreamKind kind_;
  ChunkerParams params_;
  Chunker chunker_;
  ChunkConsumer* out_;
  ByteBuffer current_;
  size_t scanned_ = 0;    // bytes of current_ already seen by the chunker
  uint64_t emitted_ = 0;  // stream bytes in emitted chunks
  uint64_t seq_ = 0;
};

class ArchiveBuilder final : public ArchiveSink {
 public:
  ArchiveBuilder(const ChunkerParams& payload, const ChunkerParams& metadata, uint64_t chunker_seed,
                 ChunkConsumer* out);

  // The payload stream: file data is written here, then the file's entry
  // (with its PayloadRef) is added with AddEntry.
  StreamCutter& payload() { return payload_; }

  // Appends an entry record to the metadata stream.
  absl::Status AddEntry(const v1::Entry& entry) override;

  // ArchiveSink: the payload stream.
  uint64_t payload_offset() const override { return payload_.length(); }
  uint8_t* ReservePayload(size_t n) override { return payload_.Reserve(n); }
  absl::Status CommitPayload(size_t n) override { return payload_.Commit(n); }
  absl::Status ForcePayloadBoundary() override { return payload_.ForceBoundary(); }
  absl::StatusOr<uint64_t> InjectPayloadChunk(const Digest& digest, uint64_t length) override {
    return payload_.InjectKnown(digest, length);
  }

  // Writes the trailer, flushes both streams. Call once.
  absl::Status Finish();

  uint64_t entries() const { return writer_.entries(); }
  uint64_t metadata_length() const { return metadata_.length(); }

 private:
  absl::Status FlushMetadata(bool force);

  StreamCutter payload_;
  StreamCutter metadata_;
  MetadataStreamWriter writer_;
  std::string pending_;  // encoded records not yet given to metadata_
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_ARCHIVE_BUILDER_H_
