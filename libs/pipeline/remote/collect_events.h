// The collector → chunker protocol (protos/arca/v1/collector.proto,
// Collector.Collect) as two mirror images of libs/pipeline/archive_sink.h:
//
// - CollectEventSink is an ArchiveSink that turns every call of the
//   collection phase (TreeCollector, pre-backup commands) into CollectEvents:
//   AddEntry → entry, ReservePayload/CommitPayload → data, ForcePayloadBoundary
//   → force_boundary, InjectPayloadChunk → inject; plus warning, command and
//   done. Events are grouped into `batch` events of about batch_bytes (file
//   data is read into a scratch buffer and appended to the batch's data
//   field: one copy of the bytes read, no zero-filling).
// - CollectEventApplier applies those events, checked, to another
//   ArchiveSink (the chunker's ArchiveBuilder), so that the archive built in
//   the chunker is byte for byte the one the embedded pipeline builds.
//
// Invariant of the stream: every byte an entry's PayloadRef (or a command's)
// points to was sent (as data or inject) before the entry.
//
// Thread-safety: neither class is thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_
#define ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/collector.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/archive_sink.h"

namespace arca {

class CollectEventSink final : public ArchiveSink {
 public:
  // Sends one message (a batch, or done); an error (e.g. the stream is gone)
  // is returned by the sink call that flushed.
  using Emit = std::function<absl::Status(v1::CollectEvent& event)>;

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
  v1::CollectEvent* NewEvent();
  void CloseData();
  absl::Status Flush();
  absl::Status MaybeFlush();

  Emit emit_;
  const size_t batch_bytes_;
  const std::vector<v1::Warning>* warnings_ = nullptr;
  size_t warnings_sent_ = 0;
  v1::CollectEvent batch_;
  size_t pending_bytes_ = 0;
  std::string* open_data_ = nullptr;  // data field of the batch's last event
  ByteBuffer scratch_;                // ReservePayload's region
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

  bool done() const { return done_; }
  // The done event (valid once done()).
  const v1::CollectDone& done_event() const { return done_event_; }
  // Warnings and command results received since the last call.
  std::vector<v1::Warning> TakeWarnings();
  std::vector<v1::CommandResult> TakeCommands();

  uint64_t entries() const { return entries_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  absl::Status ApplyOne(v1::CollectEvent& event);
  absl::Status CheckRef(const v1::PayloadRef& ref, const std::string& what) const;

  ArchiveSink* sink_;
  bool done_ = false;
  v1::CollectDone done_event_;
  std::vector<v1::Warning> warnings_;
  std::vector<v1::CommandResult> commands_;
  uint64_t entries_ = 0;
  uint64_t data_bytes_ = 0;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_COLLECT_EVENTS_H_
