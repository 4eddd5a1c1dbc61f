#include "libs/pipeline/remote/collect_events.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/archive_builder.h"

namespace arca {
namespace {

// An inject may not name a chunk larger than a blob may hold.
constexpr uint64_t kMaxInjectLength = uint64_t{64} << 20;

absl::Status Malformed(std::string message) {
  return WithPhase(absl::InvalidArgumentError(
                       absl::StrCat("malformed collector stream: ", message,
                                    " (collector and chunker versions disagree, or a bug)")),
                   v1::PHASE_COLLECTION);
}

}  // namespace

// --- WireMessage ---------------------------------------------------------------

size_t WireMessage::size() const {
  size_t n = 0;
  for (const Part& p : parts) n += p.size;
  return n;
}

std::string WireMessage::Flatten() const {
  std::string out;
  out.reserve(size());
  for (const Part& p : parts) {
    const char* base = p.buffer == Part::kHeader
                           ? header.data()
                           : reinterpret_cast<const char*>(buffers[p.buffer].data());
    out.append(base + p.offset, p.size);
  }
  return out;
}

// --- CollectEventSink --------------------------------------------------------

CollectEventSink::CollectEventSink(Emit emit, size_t batch_bytes)
    : emit_(std::move(emit)), batch_bytes_(std::max<size_t>(batch_bytes, 1)) {}

void CollectEventSink::CloseData() { data_open_ = false; }

v1::CollectEvent* CollectEventSink::NewEvent() {
  CloseData();
  return batch_.mutable_batch()->add_events();
}

uint8_t* CollectEventSink::ReservePayload(size_t n) {
  // Reads go straight into the batch's buffer, which is never zero-filled (a
  // reserve is usually much larger than what the read returns: 1 MiB for a
  // small file); CommitPayload keeps only the bytes read. A batch is sent
  // once batch_bytes_ are pending, so one buffer of batch_bytes_ + the first
  // reserve usually holds a whole batch.
  if (buffers_.empty() || buffers_.back().capacity() - buffers_.back().size() < n) {
    buffers_.emplace_back(batch_bytes_ + std::max(n, size_t{1} << 20));
  }
  ByteBuffer& b = buffers_.back();
  return b.data() + b.size();
}

absl::Status CollectEventSink::CommitPayload(size_t n) {
  if (n == 0) return absl::OkStatus();
  ByteBuffer& b = buffers_.back();  // ReservePayload came first
  const size_t at = b.size();
  b.set_size(at + n);
  const size_t buffer = buffers_.size() - 1;
  if (data_open_ && data_.back().buffer == buffer &&
      data_.back().offset + data_.back().size == at) {
    data_.back().size += n;
  } else {
    NewEvent()->mutable_data();
    data_.push_back({buffer, at, n});
    data_open_ = true;
  }
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
  WireMessage wire;
  wire.header = event.SerializeAsString();
  wire.parts.push_back({WireMessage::Part::kHeader, 0, wire.header.size()});
  return emit_(event, std::move(wire));
}

absl::Status CollectEventSink::MaybeFlush() {
  if (pending_bytes_ < batch_bytes_) return absl::OkStatus();
  return Flush();
}

namespace {

// The wire format pieces the encoder writes (protos/arca/v1/collector.proto):
// CollectEvent.batch = 8, CollectEventBatch.events = 1, CollectEvent.data =
// 2, FileData.data = 1; all length-delimited.
constexpr uint8_t kTagEventBatch = (8 << 3) | 2;
constexpr uint8_t kTagBatchEvents = (1 << 3) | 2;
constexpr uint8_t kTagEventData = (2 << 3) | 2;
constexpr uint8_t kTagFileDataData = (1 << 3) | 2;

size_t VarintSize(uint64_t v) { return google::protobuf::io::CodedOutputStream::VarintSize64(v); }

// Size of a length-delimited field of `n` bytes (one-byte tag).
size_t FieldSize(uint64_t n) { return 1 + VarintSize(n) + n; }

void AppendTagAndLength(std::string* out, uint8_t tag, uint64_t n) {
  uint8_t buf[1 + 10];
  buf[0] = tag;
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(n, buf + 1);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

}  // namespace

WireMessage CollectEventSink::EncodeBatch() {
  WireMessage wire;
  const auto& events = batch_.batch().events();
  // Sizes first: a length precedes what it measures.
  std::vector<size_t> sizes;
  sizes.reserve(events.size());
  size_t body = 0;
  size_t data_bytes = 0;
  size_t next_data = 0;
  for (const v1::CollectEvent& e : events) {
    size_t n = 0;
    if (e.has_data()) {
      const size_t d = data_[next_data++].size;
      n = FieldSize(FieldSize(d));
      data_bytes += d;
    } else {
      n = e.ByteSizeLong();  // caches the sizes for the write below
    }
    sizes.push_back(n);
    body += FieldSize(n);
  }
  std::string& h = wire.header;
  h.reserve(FieldSize(body) - data_bytes);
  AppendTagAndLength(&h, kTagEventBatch, body);
  size_t open = 0;  // start of the header bytes not yet in a part
  auto close_header = [&] {
    if (h.size() > open) wire.parts.push_back({WireMessage::Part::kHeader, open, h.size() - open});
    open = h.size();
  };
  next_data = 0;
  for (int i = 0; i < events.size(); ++i) {
    const v1::CollectEvent& e = events[i];
    AppendTagAndLength(&h, kTagBatchEvents, sizes[i]);
    if (e.has_data()) {
      const DataRange& r = data_[next_data++];
      AppendTagAndLength(&h, kTagEventData, FieldSize(r.size));
      AppendTagAndLength(&h, kTagFileDataData, r.size);
      close_header();
      if (r.size > 0) wire.parts.push_back({static_cast<int>(r.buffer), r.offset, r.size});
    } else {
      const size_t at = h.size();
      h.resize(at + sizes[i]);
      e.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(h.data() + at));
    }
  }
  close_header();
  wire.buffers = std::move(buffers_);
  buffers_.clear();
  data_.clear();
  return wire;
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
  absl::Status st = emit_(batch_, EncodeBatch());
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

absl::Status CollectEventApplier::ApplyData(std::span<const uint8_t> data) {
  data_bytes_ += data.size();
  return WithPhase(sink_->AppendPayload(data), v1::PHASE_ARCHIVE);
}

// A cursor over a message in pieces (protobuf wire format).
class CollectEventApplier::PieceReader {
 public:
  explicit PieceReader(std::span<const std::span<const uint8_t>> pieces) : pieces_(pieces) {
    for (const auto& p : pieces) remaining_ += p.size();
    SkipEmpty();
  }

  size_t remaining() const { return remaining_; }

  // A varint of at most 10 bytes; false if the message ends first or the
  // varint is longer.
  bool ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (remaining_ == 0) return false;
      const uint8_t b = pieces_[piece_][offset_];
      Advance(1);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }

  // Calls fn(span) for the next n bytes, in as few spans as the pieces
  // allow; false (and nothing consumed) if fewer than n remain.
  template <class Fn>
  bool Take(size_t n, Fn fn) {
    if (n > remaining_) return false;
    while (n > 0) {
      const std::span<const uint8_t> p = pieces_[piece_];
      const size_t k = std::min(n, p.size() - offset_);
      fn(p.subspan(offset_, k));
      Advance(k);
      n -= k;
    }
    return true;
  }

  bool Copy(size_t n, std::string* out) {
    out->clear();
    out->reserve(n);
    return Take(n, [out](std::span<const uint8_t> s) {
      out->append(reinterpret_cast<const char*>(s.data()), s.size());
    });
  }

  bool Skip(size_t n) {
    return Take(n, [](std::span<const uint8_t>) {});
  }

  // Skips the value of a field of wire type `type` (groups are refused).
  bool SkipValue(uint64_t type) {
    uint64_t v = 0;
    switch (type) {
      case 0:
        return ReadVarint(&v);
      case 1:
        return Skip(8);
      case 2:
        return ReadVarint(&v) && Skip(v);
      case 5:
        return Skip(4);
      default:
        return false;
    }
  }

  struct Mark {
    size_t piece, offset, remaining;
  };
  Mark mark() const { return {piece_, offset_, remaining_}; }
  void Reset(const Mark& m) {
    piece_ = m.piece;
    offset_ = m.offset;
    remaining_ = m.remaining;
  }

 private:
  void Advance(size_t n) {
    offset_ += n;
    remaining_ -= n;
    SkipEmpty();
  }
  void SkipEmpty() {
    while (piece_ < pieces_.size() && offset_ == pieces_[piece_].size()) {
      ++piece_;
      offset_ = 0;
    }
  }

  std::span<const std::span<const uint8_t>> pieces_;
  size_t piece_ = 0;
  size_t offset_ = 0;
  size_t remaining_ = 0;
};

absl::Status CollectEventApplier::ApplyWire(std::span<const std::span<const uint8_t>> pieces) {
  PieceReader r(pieces);
  const PieceReader::Mark start = r.mark();
  uint64_t tag = 0;
  uint64_t length = 0;
  // The collector's batches: CollectEvent{batch: CollectEventBatch{events}}
  // and nothing else. Anything else (done, or another encoder's message) is
  // decoded whole.
  if (r.ReadVarint(&tag) && tag == kTagEventBatch && r.ReadVarint(&length) &&
      length == r.remaining()) {
    while (r.remaining() > 0) {
      if (!r.ReadVarint(&tag)) return Malformed("a batch cut short");
      if (tag != kTagBatchEvents) {
        if ((tag >> 3) == 0 || !r.SkipValue(tag & 7)) {
          return Malformed("a batch that does not decode");
        }
        continue;
      }
      if (!r.ReadVarint(&length) || length > r.remaining()) {
        return Malformed("a batch event cut short");
      }
      RETURN_IF_ERROR(ApplyWireEvent(r, length));
    }
    return absl::OkStatus();
  }
  r.Reset(start);
  r.Copy(r.remaining(), &encoded_);
  scratch_.Clear();
  if (!scratch_.ParseFromString(encoded_)) return Malformed("a message that does not decode");
  return Apply(scratch_);
}

absl::Status CollectEventApplier::ApplyWireEvent(PieceReader& r, size_t size) {
  const PieceReader::Mark start = r.mark();
  const size_t end_remaining = r.remaining() - size;
  uint64_t tag = 0;
  uint64_t length = 0;
  // A data event alone: FileData{data, last} goes to the sink from the pieces.
  if (r.ReadVarint(&tag) && tag == kTagEventData && r.ReadVarint(&length) &&
      length <= r.remaining() && r.remaining() - length == end_remaining) {
    if (done_) return Malformed("an event after done");
    // Bytes left in the FileData; false if a read crossed its end.
    auto left = [&](size_t* n) {
      if (r.remaining() < end_remaining) return false;
      *n = r.remaining() - end_remaining;
      return true;
    };
    size_t n = 0;
    while (left(&n) && n > 0) {
      if (!r.ReadVarint(&tag) || !left(&n)) return Malformed("a data event cut short");
      if (tag == kTagFileDataData) {
        if (!r.ReadVarint(&length) || !left(&n) || length > n) {
          return Malformed("a data event cut short");
        }
        absl::Status st;
        r.Take(length, [&](std::span<const uint8_t> piece) {
          if (st.ok()) st = ApplyData(piece);
        });
        RETURN_IF_ERROR(st);
      } else if ((tag >> 3) == 0 || !r.SkipValue(tag & 7)) {
        return Malformed("a data event that does not decode");
      }
    }
    if (r.remaining() != end_remaining) return Malformed("a data event that does not decode");
    return absl::OkStatus();
  }
  r.Reset(start);
  if (!r.Copy(size, &encoded_)) return Malformed("a batch event cut short");
  scratch_.Clear();
  if (!scratch_.ParseFromString(encoded_)) return Malformed("a batch event that does not decode");
  if (scratch_.event_case() == v1::CollectEvent::kBatch) return Malformed("a batch inside a batch");
  return ApplyOne(scratch_);
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
      RETURN_IF_ERROR(ApplyData(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(d.data()), d.size())));
      event.mutable_data()->clear_data();
      return absl::OkStatus();
    }
    case v1::CollectEvent::kForceBoundary:
      return WithPhase(sink_->ForcePayloadBoundary(), v1::PHASE_ARCHIVE);
    case v1::CollectEvent::kInject: {
      const v1::InjectChunk& in = event.inject();
      absl::StatusOr<Digest> digest = Digest::FromRaw(in.digest());
      if (!digest.ok()) {
        return Malformed(
            absl::StrCat("inject with a digest of ", in.digest().size(), " bytes (32 expected)"));
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
