// Names of snapshot directories (REPO/snapshots/<group>/<time>/,
// docs/formats/repository.md): the group derived from host and source, the
// time name, and their validation. Pure functions.
#ifndef ARCA_LIBS_STORE_SNAPSHOT_NAMES_H_
#define ARCA_LIBS_STORE_SNAPSHOT_NAMES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace arca {

// The snapshot group for a source path on a host (Repository::GroupName
// documents the encoding): readable, file-system-safe and injective over
// (host, source).
std::string SnapshotGroupName(std::string_view host, std::string_view source);

// A group is one directory name we created (or a user typed): not empty, at
// most 255 bytes, no '/', no NUL, not hidden (temp names start with '.').
bool IsValidGroupName(std::string_view group);

// "YYYYMMDDTHHMMSS.nnnnnnnnnZ".
bool IsValidSnapshotTimeName(std::string_view time);

// The time name of `unix_ns` (UTC). InvalidArgument for a negative time or
// a year after 9999.
absl::StatusOr<std::string> SnapshotTimeName(int64_t unix_ns);

// Name prefix of a forgotten snapshot's directory while it is deleted:
// snapshots/<group>/.forget-<time>-<16 hex> (Repository::ForgetSnapshot).
// Hidden, so never a valid time name; leftovers are gc's to remove.
inline constexpr std::string_view kForgetPrefix = ".forget-";

}  // namespace arca

#endif  // ARCA_LIBS_STORE_SNAPSHOT_NAMES_H_
