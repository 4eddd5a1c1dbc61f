// arca cat SNAPSHOT PATH: the bytes of one regular file of a snapshot, read
// from its payload stream without restoring anything.
#ifndef ARCA_LIBS_PIPELINE_SNAPSHOT_CAT_H_
#define ARCA_LIBS_PIPELINE_SNAPSHOT_CAT_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/store/repository.h"

namespace arca {

// Calls `write` with the content of the regular file `path` of `snapshot`,
// in order, in pieces of at most 1 MiB: the file's size in total, holes of a
// sparse file as zeros. `path` is relative to the backed-up root as `arca
// ls` prints it; leading and trailing '/' are ignored. A hardlink gives the
// content of its first name (the file it links to).
// Errors:
// - NotFound: unknown snapshot (the repository's message), or "snapshot
//   <id> has no entry '<path>'";
// - FailedPrecondition "'<path>' in snapshot <id> is a directory|symlink to
//   '<target>'|...: arca cat prints regular files only";
// - DataLoss: damaged metadata or payload (run arca verify);
// - the first error `write` returns (then nothing more is written).
absl::Status CatFile(Repository& repo, absl::string_view snapshot, absl::string_view path,
                     const std::function<absl::Status(absl::string_view)>& write);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SNAPSHOT_CAT_H_
