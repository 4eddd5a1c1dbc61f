#include "libs/mount/file_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace arca::mount {
namespace {

std::unique_ptr<ReadAheadChunkSource> MakeReadAhead(const ChunkIndex* index, ChunkSource* chunks,
                                                    const ReadAhead& r) {
  if (r.chunks == 0) return nullptr;
  return std::make_unique<ReadAheadChunkSource>(index, chunks, r.chunks,
                                                std::max<size_t>(r.threads, 1));
}

}  // namespace

FileReader::FileReader(const v1::Entry& entry, std::shared_ptr<const ChunkIndex> payload_index,
                       ChunkSource* chunks, const ReadAhead& read_ahead, std::string what)
    : size_(entry.size()),
      what_(std::move(what)),
      index_(std::move(payload_index)),
      ahead_(MakeReadAhead(index_.get(), chunks, read_ahead)),
      stream_(index_.get(), ahead_ ? static_cast<ChunkSource*>(ahead_.get()) : chunks) {
  if (!entry.sparse()) {
    if (size_ > 0) extents_.push_back({0, size_, entry.payload().offset()});
    return;
  }
  uint64_t payload = entry.payload().offset();
  for (const v1::Extent& x : entry.extents()) {
    extents_.push_back({x.offset(), x.length(), payload});
    payload += x.length();
  }
}

absl::Status FileReader::ReadPayload(uint64_t payload_offset, uint64_t file_offset,
                                     std::span<uint8_t> out) {
  if (ahead_) ahead_->ExpectOffset(payload_offset);
  size_t done = 0;
  while (done < out.size()) {
    absl::StatusOr<size_t> n = stream_.ReadAt(payload_offset + done, out.subspan(done));
    if (!n.ok() || *n == 0) {
      std::string why = n.ok() ? "the payload stream ends early" : std::string(n.status().message());
      return absl::DataLossError(absl::StrCat(what_, ": cannot read byte ", file_offset + done,
                                              " of the file: ", why,
                                              " (the repository is damaged: run arca verify)"));
    }
    done += *n;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> FileReader::Read(uint64_t offset, std::span<uint8_t> out) {
  if (offset >= size_) return 0;
  const size_t total = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - offset));
  // The first extent that ends after `offset`.
  auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                             [](uint64_t o, const Extent& x) { return o < x.offset + x.length; });
  size_t done = 0;
  while (done < total) {
    const uint64_t pos = offset + done;
    const size_t left = total - done;
    if (it == extents_.end() || pos < it->offset) {  // a hole
      const uint64_t hole_end = it == extents_.end() ? size_ : it->offset;
      const size_t k = static_cast<size_t>(std::min<uint64_t>(left, hole_end - pos));
      std::memset(out.data() + done, 0, k);
      done += k;
      continue;
    }
    const uint64_t in = pos - it->offset;
    const size_t k = static_cast<size_t>(std::min<uint64_t>(left, it->length - in));
    absl::Status st = ReadPayload(it->payload + in, pos, out.subspan(done, k));
    if (!st.ok()) return st;
    done += k;
    if (in + k == it->length) ++it;
  }
  return total;
}

}  // namespace arca::mount
