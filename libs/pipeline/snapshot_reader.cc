#include "libs/pipeline/snapshot_reader.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"

namespace arca {

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(Repository& repo,
                                                                     absl::string_view snapshot) {
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  ASSIGN_OR_RETURN(r->loaded_, repo.LoadSnapshot(std::string(snapshot)));
  const std::string& id = r->loaded_.manifest.id();
  ASSIGN_OR_RETURN(r->metadata_index_,
                   ChunkIndex::Decode(AsBytes(r->loaded_.metadata_index), v1::STREAM_KIND_METADATA,
                                      absl::StrCat(id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(r->payload_index_,
                   ChunkIndex::Decode(AsBytes(r->loaded_.payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(id, "/payload.aidx")));
  r->source_ = std::make_unique<RepositoryChunkSource>(repo.chunks(), repo.key());
  r->metadata_stream_ = std::make_unique<StreamReader>(&r->metadata_index_, r->source_.get());
  r->payload_stream_ = std::make_unique<StreamReader>(&r->payload_index_, r->source_.get());
  r->metadata_reader_ = std::make_unique<MetadataStreamReader>(r->metadata_stream_.get());
  return r;
}

absl::Status SnapshotReader::ReadPayload(uint64_t offset, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    absl::StatusOr<size_t> n = payload_stream_->ReadAt(offset + done, out.subspan(done));
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kOutOfRange) {
        return absl::DataLossError(absl::StrCat("snapshot ", id(), ": payload offset ",
                                                offset + done, " is beyond the payload stream (",
                                                payload_index_.stream_length(), " bytes)"));
      }
      return n.status();
    }
    if (*n == 0) {
      return absl::DataLossError(absl::StrCat("snapshot ", id(), ": payload stream ends at ",
                                              offset + done, ", before the ", out.size() - done,
                                              " bytes an entry refers to"));
    }
    done += *n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PayloadPiece>> SnapshotReader::PayloadPieces(uint64_t offset,
                                                                        uint64_t length) const {
  std::vector<PayloadPiece> out;
  absl::StatusOr<ChunkRange> range = payload_index_.Find(offset, length);
  if (!range.ok()) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", id(), ": payload range: ", range.status().message()));
  }
  if (range->empty) return out;
  const uint64_t end = offset + length;
  for (size_t i = range->first; i <= range->last; ++i) {
    const uint64_t start = payload_index_.ChunkStart(i);
    const uint64_t stop = payload_index_.entries()[i].end_offset;
    PayloadPiece p;
    p.digest = payload_index_.entries()[i].digest;
    p.begin = std::max(start, offset) - start;
    p.end = std::min(stop, end) - start;
    out.push_back(p);
  }
  return out;
}

}  // namespace arca
