#include "libs/pipeline/remote/collect_events.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/archive_builder.h"

namespace arca {
namespace {

// An inject may not name a chunk larger than a blob may hold.
constexpr uint64_t kMaxInjectLength = uint64_t{64} << 20;

absl::Status Malformed(std::string message) {
  return WithPhase(absl::InvalidArgumentError(absl::StrCat(
                       "malformed collector stream: ", message,
                       " (collector and chunker versions disagree, or a bug)")),
                   v1::PHASE_COLLECTION);
}

}  // namespace

// --- CollectEventSink --------------------------------------------------------

CollectEventSink::CollectEventSink(Emit emit, size_t batch_bytes)
    : emit_(std::move(emit)), batch_bytes_(std::max<size_t>(batch_bytes, 1)) {}

void CollectEventSink::CloseData() { open_data_ = nullptr; }

v1::CollectEvent* CollectEventSink::NewEvent() {
  CloseData();
  return batch_.mutable_batch()->add_events();
}

uint8_t* CollectEventSink::ReservePayload(size_t n) {
  // Reads go to a scratch buffer that is never zero-filled (a reserve is
  // usually much larger than what the read returns: 1 MiB for a small file);
  // CommitPayload appends only the bytes read.
  if (scratch_.capacity() < n) scratch_ = ByteBuffer(std::max(n, StreamCutter::kMaxReserve));
  return scratch_.data();
}

absl::Status CollectEventSink::CommitPayload(size_t n) {
  if (n == 0) return absl::OkStatus();
  if (open_data_ == nullptr) {
    std::string* data = NewEvent()->mutable_data()->mutable_data();
    // Flushes happen once batch_bytes_ are pending and a commit is at most
    // StreamCutter::kMaxReserve: this capacity is never outgrown.
    data->reserve(batch_bytes_ + StreamCutter::kMaxReserve);
    open_data_ = data;
  }
  open_data_->append(reinterpret_cast<const char*>(scratch_.data()), n);
  payload_offset_ += n;
  pending_bytes_ += n;
  return MaybeFlush();
}

absl::Status CollectEventSink::ForcePayloadBoundary() {
  NewEvent()->mutable_force_boundary();
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CollectEventSink::InjectPayloadChunk(const Digest& digest,
                                                             uint64_t length) {
  const uint64_t at = payload_offset_;
  v1::InjectChunk* inject = NewEvent()->mutable_inject();
  inject->set_digest(std::string(digest.Raw()));
  inject->set_length(length);
  inject->set_offset(at);
  payload_offset_ += length;
  pending_bytes_ += 64;
  RETURN_IF_ERROR(MaybeFlush());
  return at;
}

absl::Status CollectEventSink::AddEntry(const v1::Entry& entry) {
  v1::Entry* e = NewEvent()->mutable_entry();
  *e = entry;
  pending_bytes_ += e->ByteSizeLong();
  ++entries_;
  return MaybeFlush();
}

absl::Status CollectEventSink::AddCommand(const v1::CommandResult& result) {
  *NewEvent()->mutable_command()->mutable_result() = result;
  return Flush();
}

absl::Status CollectEventSink::Finish(v1::CollectDone done) {
  RETURN_IF_ERROR(Flush());
  v1::CollectEvent event;
  done.set_payload_length(payload_offset_);
  *event.mutable_done() = std::move(done);
  ++messages_;
  return emit_(event);
}

absl::Status CollectEventSink::MaybeFlush() {
  if (pending_bytes_ < batch_bytes_) return absl::OkStatus();
  return Flush();
}

absl::Status CollectEventSink::Flush() {
  if (warnings_ != nullptr) {
    for (; warnings_sent_ < warnings_->size(); ++warnings_sent_) {
      *NewEvent()->mutable_warning() = (*warnings_)[warnings_sent_];
    }
  }
  CloseData();
  if (!batch_.has_batch() || batch_.batch().events_size() == 0) return absl::OkStatus();
  ++messages_;
  absl::Status st = emit_(batch_);
  batch_.Clear();
  pending_bytes_ = 0;
  return st;
}

// --- CollectEventApplier -----------------------------------------------------

absl::Status CollectEventApplier::Apply(v1::CollectEvent& event) {
  if (event.event_case() != v1::CollectEvent::kBatch) return ApplyOne(event);
  for (v1::CollectEvent& e : *event.mutable_batch()->mutable_events()) {
    if (e.event_case() == v1::CollectEvent::kBatch) return Malformed("a batch inside a batch");
    RETURN_IF_ERROR(ApplyOne(e));
  }
  return absl::OkStatus();
}

absl::Status CollectEventApplier::CheckRef(const v1::PayloadRef& ref,
                                           const std::string& what) const {
  const uint64_t end = ref.offset() + ref.length();
  if (end < ref.offset() || end > sink_->payload_offset()) {
    return Malformed(absl::StrCat(what, " refers to payload bytes [", ref.offset(), ", ",
                                  ref.offset() + ref.length(), ") but only ",
                                  sink_->payload_offset(), " were sent before it"));
  }
  return absl::OkStatus();
}

absl::Status CollectEventApplier::ApplyOne(v1::CollectEvent& event) {
  if (done_) return Malformed("an event after done");
  switch (event.event_case()) {
    case v1::CollectEvent::kEntry: {
      const v1::Entry& e = event.entry();
      if (e.has_payload()) {
        RETURN_IF_ERROR(CheckRef(e.payload(), absl::StrCat("entry '", e.path(), "'")));
      }
      RETURN_IF_ERROR(WithPhase(sink_->AddEntry(e), v1::PHASE_ARCHIVE));
      ++entries_;
      return absl::OkStatus();
    }
    case v1::CollectEvent::kData: {
      const std::string& d = event.data().data();
      data_bytes_ += d.size();
      RETURN_IF_ERROR(WithPhase(
          sink_->AppendPayload(std::span<const uint8_t>(
              reinterpret_cast<const uint8_t*>(d.data()), d.size())),
          v1::PHASE_ARCHIVE));
      event.mutable_data()->clear_data();
      return absl::OkStatus();
    }
    case v1::CollectEvent::kForceBoundary:
      return WithPhase(sink_->ForcePayloadBoundary(), v1::PHASE_ARCHIVE);
    case v1::CollectEvent::kInject: {
      const v1::InjectChunk& in = event.inject();
      absl::StatusOr<Digest> digest = Digest::FromRaw(in.digest());
      if (!digest.ok()) {
        return Malformed(absl::StrCat("inject with a digest of ", in.digest().size(),
                                      " bytes (32 expected)"));
      }
      if (in.length() == 0 || in.length() > kMaxInjectLength) {
        return Malformed(absl::StrCat("inject of chunk ", digest->Hex(), " with length ",
                                      in.length(), " (1..", kMaxInjectLength, " expected)"));
      }
      if (in.offset() != sink_->payload_offset()) {
        return Malformed(absl::StrCat("inject of chunk ", digest->Hex(), " expected at payload ",
                                      "offset ", in.offset(), " but the stream is ",
                                      sink_->payload_offset(), " bytes long"));
      }
      absl::StatusOr<uint64_t> at = sink_->InjectPayloadChunk(*digest, in.length());
      if (!at.ok()) return WithPhase(at.status(), v1::PHASE_ARCHIVE);
      if (*at != in.offset()) {
        return Malformed(absl::StrCat("chunk ", digest->Hex(), " was injected at ", *at,
                                      " instead of ", in.offset()));
      }
      return absl::OkStatus();
    }
    case v1::CollectEvent::kWarning:
      warnings_.push_back(std::move(*event.mutable_warning()));
      return absl::OkStatus();
    case v1::CollectEvent::kCommand: {
      const v1::CommandResult& c = event.command().result();
      RETURN_IF_ERROR(CheckRef(c.payload(), absl::StrCat("command '", c.name(), "'")));
      commands_.push_back(c);
      return absl::OkStatus();
    }
    case v1::CollectEvent::kDone:
      if (event.done().payload_length() != sink_->payload_offset()) {
        return Malformed(absl::StrCat("done says the payload stream is ",
                                      event.done().payload_length(), " bytes long but ",
                                      sink_->payload_offset(), " were sent"));
      }
      done_ = true;
      done_event_ = std::move(*event.mutable_done());
      return absl::OkStatus();
    case v1::CollectEvent::kBatch:
      return Malformed("a batch inside a batch");
    case v1::CollectEvent::EVENT_NOT_SET:
      break;
  }
  return Malformed("an event with nothing set");
}

std::vector<v1::Warning> CollectEventApplier::TakeWarnings() {
  std::vector<v1::Warning> out;
  out.swap(warnings_);
  return out;
}

std::vector<v1::CommandResult> CollectEventApplier::TakeCommands() {
  std::vector<v1::CommandResult> out;
  out.swap(commands_);
  return out;
}

}  // namespace arca
