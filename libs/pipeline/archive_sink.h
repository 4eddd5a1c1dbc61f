// The interface between the collection phase and the archive phase.
#ifndef ARCA_LIBS_PIPELINE_ARCHIVE_SINK_H_
#define ARCA_LIBS_PIPELINE_ARCHIVE_SINK_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "libs/hash/digest.h"

namespace arca {

// What the collection phase hands to the archive phase. Calls come in
// order; payload offsets are positions in the new payload stream.
class ArchiveSink {
 public:
  virtual ~ArchiveSink() = default;
  // Current length of the payload stream.
  virtual uint64_t payload_offset() const = 0;
  // A writable region of n (<= 4 MiB) bytes at the payload stream's end,
  // valid until CommitPayload(k), k <= n, appends its first k bytes.
  virtual uint8_t* ReservePayload(size_t n) = 0;
  virtual absl::Status CommitPayload(size_t n) = 0;
  // Ends the current payload chunk here (a forced boundary).
  virtual absl::Status ForcePayloadBoundary() = 0;
  // Appends a stored chunk of the parent snapshot by digest (after a forced
  // boundary); returns the payload offset where it starts.
  virtual absl::StatusOr<uint64_t> InjectPayloadChunk(const Digest& digest, uint64_t length) = 0;
  // Appends an entry to the metadata stream.
  virtual absl::Status AddEntry(const v1::Entry& entry) = 0;

  // Copies bytes into the payload stream.
  absl::Status AppendPayload(std::span<const uint8_t> data);
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_ARCHIVE_SINK_H_
