// The collector → chunker protocol (protos/arca/v1/collector.proto,
// Collector.Collect) as two mirror images of libs/pipeline/archive_sink.h:
//
// - CollectEventSink is an ArchiveSink that turns every call of the
//   collection phase (TreeCollector, pre-backup commands) into CollectEvents:
//   AddEntry → entry, ReservePayload/CommitPayload → data, ForcePayloadBoundary
//   → force_boundary, InjectPayloadChunk → inject; plus warning, command and
//   done. Events are grouped into `batch` events of about batch_bytes, each
//   handed over already in its wire encoding (WireMessage): file data is read
//   straight into the batch's buffers and never copied by the collector (no
//   zero-filling either); gRPC sends those buffers as they are.
// - CollectEventApplier applies those events, checked, to another
//   ArchiveSink (the chunker's ArchiveBuilder), so that the archive built in
//   the chunker is byte for byte the one the embedded pipeline builds.
//   ApplyWire takes a message as the pieces gRPC received it in and hands
//   file data to the sink from those pieces (no copy into a parsed message).
//
// Invariant of the stream: every byte an entry's PayloadRef (or a command's)
// points to was sent (as data or inject) before the entry.
//
// Thread-safety: neither class is thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_
#define ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/collector.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/archive_sink.h"

namespace arca {

// CollectRequest.missing_parent_chunks lists at most this many digests (2 MiB
// of them); when more parent chunks are missing the chunker sets
// parent_chunks_unusable instead, and the collector refuses a longer list.
inline constexpr size_t kMaxMissingParentChunks = 65536;

// One message of the Collect stream (a CollectEvent) in its protobuf wire
// encoding, in pieces: the encoding is the concatenation of `parts`, in
// order. File data is not copied into it: its parts point into `buffers`,
// the buffers the files were read into.
struct WireMessage {
  struct Part {
    static constexpr int kHeader = -1;
    int buffer = kHeader;  // kHeader: a range of `header`; else an index into `buffers`
    size_t offset = 0;
    size_t size = 0;
  };
  std::string header;               // every byte but file data
  std::vector<ByteBuffer> buffers;  // file data (each buffer's first size() bytes)
  std::vector<Part> parts;

  // Bytes of the encoding.
  size_t size() const;
  // The encoding in one string, copied (tests; gRPC sends the parts as they are).
  std::string Flatten() const;
};

class CollectEventSink final : public ArchiveSink {
 public:
  // Sends one message (a batch, or done); an error (e.g. the stream is gone)
  // is returned by the sink call that flushed. `wire` is the message to send;
  // `event` is the same message decoded, except that its data events carry
  // no bytes (for counting and logs).
  using Emit = std::function<absl::Status(const v1::CollectEvent& event, WireMessage wire)>;

  // batch_bytes: a batch is sent once it holds this many bytes of data and
  // encoded entries (and before inject, command and done events).
  explicit CollectEventSink(Emit emit, size_t batch_bytes = 1u << 20);

  // Warnings appended to *warnings (by the collection) are sent with the
  // next batch; not owned.
  void WatchWarnings(const std::vector<v1::Warning>* warnings) { warnings_ = warnings; }

  uint64_t payload_offset() const override { return payload_offset_; }
  uint8_t* ReservePayload(size_t n) override;
  absl::Status CommitPayload(size_t n) override;
  absl::Status ForcePayloadBoundary() override;
  absl::StatusOr<uint64_t> InjectPayloadChunk(const Digest& digest, uint64_t length) override;
  absl::Status AddEntry(const v1::Entry& entry) override;

  // A pre-backup command's result (its output was appended just before).
  absl::Status AddCommand(const v1::CommandResult& result);
  // Sends what is pending, then `done` (payload_length is filled in).
  absl::Status Finish(v1::CollectDone done);

  uint64_t entries() const { return entries_; }
  uint64_t messages() const { return messages_; }

 private:
  // Bytes of one data event of the batch: buffers_[buffer][offset, +size).
  struct DataRange {
    size_t buffer = 0;
    size_t offset = 0;
    size_t size = 0;
  };

  v1::CollectEvent* NewEvent();
  void CloseData();
  absl::Status Flush();
  absl::Status MaybeFlush();
  // The batch in its wire encoding; moves buffers_ out.
  WireMessage EncodeBatch();

  Emit emit_;
  const size_t batch_bytes_;
  const std::vector<v1::Warning>* warnings_ = nullptr;
  size_t warnings_sent_ = 0;
  v1::CollectEvent batch_;  // data events are placeholders: their bytes are in data_
  size_t pending_bytes_ = 0;
  bool data_open_ = false;           // the batch's last event is data that may grow
  std::vector<DataRange> data_;      // one per data event of the batch, in order
  std::vector<ByteBuffer> buffers_;  // the batch's file data; back() takes reserves
  uint64_t payload_offset_ = 0;
  uint64_t entries_ = 0;
  uint64_t messages_ = 0;
};

class CollectEventApplier {
 public:
  // `sink` is not owned.
  explicit CollectEventApplier(ArchiveSink* sink) : sink_(sink) {}

  // Applies one event (a batch: each of its events, in order). Data is
  // moved out of the event. Errors:
  // - InvalidArgument (PHASE_COLLECTION) for a malformed stream: an empty
  //   event, a nested batch, an event after done, an inject without a 32-byte
  //   digest or with a length of 0 or over 64 MiB or at an offset other than
  //   the payload stream's length, a PayloadRef (entry or command) beyond the
  //   data sent so far, a done whose payload_length differs;
  // - the sink's errors (e.g. ArchiveBuilder: an invalid entry, PHASE_ARCHIVE).
  absl::Status Apply(v1::CollectEvent& event);
  // Applies one message in its wire encoding, the concatenation of `pieces`
  // (as gRPC received it), with the checks of Apply. The file data of a batch
  // goes to the sink straight from the pieces; other events are decoded and
  // applied as by Apply. A message that does not decode: InvalidArgument
  // (PHASE_COLLECTION), malformed.
  absl::Status ApplyWire(std::span<const std::span<const uint8_t>> pieces);

  bool done() const { return done_; }
  // The done event (valid once done()).
  const v1::CollectDone& done_event() const { return done_event_; }
  // Warnings and command results received since the last call.
  std::vector<v1::Warning> TakeWarnings();
  std::vector<v1::CommandResult> TakeCommands();

  uint64_t entries() const { return entries_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  class PieceReader;
  absl::Status ApplyOne(v1::CollectEvent& event);
  absl::Status ApplyData(std::span<const uint8_t> data);
  // One event of a batch, `size` bytes at the reader's position.
  absl::Status ApplyWireEvent(PieceReader& reader, size_t size);
  absl::Status CheckRef(const v1::PayloadRef& ref, const std::string& what) const;

  ArchiveSink* sink_;
  bool done_ = false;
  v1::CollectDone done_event_;
  std::vector<v1::Warning> warnings_;
  std::vector<v1::CommandResult> commands_;
  uint64_t entries_ = 0;
  uint64_t data_bytes_ = 0;
  v1::CollectEvent scratch_;  // decoded non-data events of ApplyWire
  std::string encoded_;       // their encoding, gathered from the pieces
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_
