// Verify's check of a snapshot's hardlinks (docs/architecture.md §12): every
// HARDLINK entry must name an earlier entry of the same metadata stream that
// is a regular file, as the walker writes them (libs/fs/tree_walker.h) and
// the restore needs them (it links to the file it restored under that name).
// The metadata stream reader already refuses a target that is not before the
// entry in archive order; this catches a target that is missing or not a
// regular file.
//
// Memory: one 64-bit path hash and a type per entry seen (a hash collision
// can only hide a problem, never report a false one, and is negligible at
// 2^-64 per pair). Not thread-safe.
#ifndef ARCA_LIBS_PIPELINE_HARDLINK_CHECK_H_
#define ARCA_LIBS_PIPELINE_HARDLINK_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "arca/v1/common.pb.h"

namespace arca {

class HardlinkCheck {
 public:
  // Feed every entry of one metadata stream in stream order. Returns a
  // problem for a HARDLINK entry whose target is missing or not a regular
  // file: "hardlink '<path>' points at '<target>', which is missing from
  // the snapshot" or "..., which is a <type>, not a regular file";
  // nullopt otherwise.
  std::optional<std::string> Add(const v1::Entry& entry);

 private:
  absl::flat_hash_map<uint64_t, v1::EntryType> types_;  // path hash → type
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_HARDLINK_CHECK_H_
