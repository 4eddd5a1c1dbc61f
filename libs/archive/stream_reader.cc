#include "libs/archive/stream_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"

namespace arca {

StreamReader::StreamReader(const ChunkIndex* index, ChunkSource* source, size_t cache_chunks)
    : index_(index), source_(source), cache_capacity_(std::max<size_t>(cache_chunks, 1)) {
  cache_.reserve(cache_capacity_);
}

size_t StreamReader::ChunkAt(uint64_t offset) {
  const size_t n = index_->size();
  for (size_t i : {hint_, hint_ + 1}) {
    if (i < n && index_->ChunkStart(i) <= offset && offset < index_->entries()[i].end_offset) {
      return hint_ = i;
    }
  }
  const auto& e = index_->entries();
  auto it = std::upper_bound(e.begin(), e.end(), offset,
                             [](uint64_t v, const IndexEntry& x) { return v < x.end_offset; });
  return hint_ = static_cast<size_t>(it - e.begin());
}

absl::StatusOr<const std::string*> StreamReader::Chunk(size_t i) {
  const IndexEntry& entry = index_->entries()[i];
  const uint64_t expected = index_->ChunkLength(i);
  const uint64_t start = index_->ChunkStart(i);
  const std::string* data = nullptr;
  for (CacheSlot& slot : cache_) {
    if (slot.digest == entry.digest) {
      slot.last_used = ++use_clock_;
      data = slot.data.get();
      break;
    }
  }
  if (data == nullptr) {
    absl::StatusOr<std::shared_ptr<const std::string>> got =
        source_->GetChunk(entry.digest, expected);
    ++chunks_fetched_;
    if (!got.ok()) {
      // The code and an attached phase travel on.
      return WithMessage(got.status(),
                         absl::StrCat("stream offset ", start, ": chunk ", entry.digest.Hex(), ": ",
                                      got.status().message()));
    }
    if (*got == nullptr) {
      return absl::InternalError(absl::StrCat("stream offset ", start, ": chunk ",
                                              entry.digest.Hex(),
                                              ": the chunk source returned no data"));
    }
    data = got->get();
    if (data->size() == expected) {
      if (cache_.size() < cache_capacity_) {
        cache_.push_back(CacheSlot{entry.digest, std::move(*got), ++use_clock_});
      } else {
        auto lru = std::min_element(
            cache_.begin(), cache_.end(),
            [](const CacheSlot& a, const CacheSlot& b) { return a.last_used < b.last_used; });
        *lru = CacheSlot{entry.digest, std::move(*got), ++use_clock_};
      }
      return data;
    }
  }
  if (data->size() != expected) {
    return absl::DataLossError(absl::StrCat("stream offset ", start, ": chunk ", entry.digest.Hex(),
                                            " has ", data->size(), " bytes, but the index says ",
                                            expected, " (corrupt index or chunk)"));
  }
  return data;
}

absl::StatusOr<size_t> StreamReader::ReadAt(uint64_t offset, std::span<uint8_t> buf) {
  const uint64_t total = index_->stream_length();
  if (offset > total) {
    return absl::OutOfRangeError(
        absl::StrCat("read at offset ", offset, " is beyond the stream's end (", total, " bytes)"));
  }
  size_t done = 0;
  while (done < buf.size() && offset < total) {
    const size_t i = ChunkAt(offset);
    absl::StatusOr<const std::string*> got = Chunk(i);
    if (!got.ok()) {
      if (done > 0) return done;  // the next call starts at the bad chunk
      return got.status();
    }
    const std::string* chunk = *got;
    const uint64_t in_chunk = offset - index_->ChunkStart(i);
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(buf.size() - done, chunk->size() - in_chunk));
    std::memcpy(buf.data() + done, chunk->data() + in_chunk, n);
    done += n;
    offset += n;
  }
  return done;
}

absl::StatusOr<size_t> StreamReader::Read(std::span<uint8_t> buf) {
  ASSIGN_OR_RETURN(size_t n, ReadAt(position_, buf));
  position_ += n;
  return n;
}

absl::Status StreamReader::Seek(uint64_t offset) {
  if (offset > index_->stream_length()) {
    return absl::OutOfRangeError(absl::StrCat("seek to offset ", offset,
                                              " is beyond the stream's end (",
                                              index_->stream_length(), " bytes)"));
  }
  position_ = offset;
  return absl::OkStatus();
}

}  // namespace arca
