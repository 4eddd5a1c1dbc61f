// How many bytes a backup of a tree would read, from metadata alone: the
// estimate of the free-space check (space_check.h), for the embedded backup
// (backup.cc) and the collector's EstimateCollect alike. A file of its own so
// that the collector does not link the embedded backup driver for it.
//
// Thread-safety: stateless; `fs` must be usable from the calling thread.
#ifndef ARCA_LIBS_PIPELINE_SOURCE_ESTIMATE_H_
#define ARCA_LIBS_PIPELINE_SOURCE_ESTIMATE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"

namespace arca {

// Bytes a backup of root would read (regular file data, sparse files by
// allocated size), honouring excludes and one_file_system. Lstat only;
// directories that cannot be listed and entries that vanish are skipped
// (the walk itself reports them). Errors: Lstat of `root`'s status.
absl::StatusOr<uint64_t> EstimateSourceBytes(fs::FileSystem* fs, const std::string& root,
                                             const fs::PathMatcher* excludes, bool one_file_system);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SOURCE_ESTIMATE_H_
