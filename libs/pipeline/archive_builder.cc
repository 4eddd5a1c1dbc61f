#include "libs/pipeline/archive_builder.h"

#include <algorithm>

#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"

namespace arca {

StreamCutter::StreamCutter(v1::StreamKind kind, const ChunkerParams& params, uint64_t chunker_seed,
                           ChunkConsumer* out)
    : kind_(kind),
      params_(params),
      chunker_(params, chunker_seed),
      out_(out),
      current_(params.max_size + kMaxReserve) {}

uint8_t* StreamCutter::Reserve(size_t n) {
  // current_ never holds more than max_size bytes between calls (Commit
  // cuts at max_size at the latest), so n <= kMaxReserve always fits.
  return current_.data() + current_.size();
}

absl::Status StreamCutter::Commit(size_t n) {
  current_.set_size(current_.size() + n);
  while (scanned_ < current_.size()) {
    size_t k = chunker_.Scan(
        std::span<const uint8_t>(current_.data() + scanned_, current_.size() - scanned_));
    if (k == 0) {
      scanned_ = current_.size();
      break;
    }
    RETURN_IF_ERROR(Cut(scanned_ + k));
  }
  return absl::OkStatus();
}

absl::Status StreamCutter::Append(std::span<const uint8_t> data) {
  while (!data.empty()) {
    size_t n = std::min(data.size(), kMaxReserve);
    std::memcpy(Reserve(n), data.data(), n);
    RETURN_IF_ERROR(Commit(n));
    data = data.subspan(n);
  }
  return absl::OkStatus();
}

absl::Status StreamCutter::Cut(size_t at) {
  ByteBuffer next(params_.max_size + kMaxReserve);
  size_t tail = current_.size() - at;
  if (tail > 0) std::memcpy(next.data(), current_.data() + at, tail);
  next.set_size(tail);
  current_.set_size(at);
  PendingChunk chunk;
  chunk.stream = kind_;
  chunk.seq = seq_++;
  chunk.offset = emitted_;
  emitted_ += at;
  chunk.data = std::move(current_);
  current_ = std::move(next);
  scanned_ = 0;
  return out_->Consume(std::move(chunk));
}

absl::Status StreamCutter::Finish() {
  if (current_.size() == 0) return absl::OkStatus();
  RETURN_IF_ERROR(Cut(current_.size()));
  chunker_.Reset();
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StreamCutter::InjectKnown(const Digest& digest, uint64_t length) {
  RETURN_IF_ERROR(ForceBoundary());
  const uint64_t at = emitted_;
  PendingChunk chunk;
  chunk.stream = kind_;
  chunk.seq = seq_++;
  chunk.offset = at;
  chunk.known = true;
  chunk.known_digest = digest;
  chunk.known_length = length;
  emitted_ += length;
  RETURN_IF_ERROR(out_->Consume(std::move(chunk)));
  return at;
}

ArchiveBuilder::ArchiveBuilder(const ChunkerParams& payload, const ChunkerParams& metadata,
                               uint64_t chunker_seed, ChunkConsumer* out)
    : payload_(v1::STREAM_KIND_PAYLOAD, payload, chunker_seed, out),
      metadata_(v1::STREAM_KIND_METADATA, metadata, chunker_seed, out) {
  writer_.WriteHeader(&pending_);
}

absl::Status ArchiveBuilder::AddEntry(const v1::Entry& entry) {
  RETURN_IF_ERROR(WithPhase(writer_.Append(entry, &pending_), v1::PHASE_ARCHIVE));
  return FlushMetadata(false);
}

absl::Status ArchiveBuilder::FlushMetadata(bool force) {
  if (!force && pending_.size() < (64u << 10)) return absl::OkStatus();
  RETURN_IF_ERROR(metadata_.Append(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(pending_.data()), pending_.size())));
  pending_.clear();
  return absl::OkStatus();
}

absl::Status ArchiveBuilder::Finish() {
  writer_.WriteTrailer(&pending_);
  RETURN_IF_ERROR(FlushMetadata(true));
  RETURN_IF_ERROR(payload_.Finish());
  return metadata_.Finish();
}

}  // namespace arca
