// `arca export`: a snapshot as a POSIX pax archive (pax_writer.h), plain or
// compressed with zstd or xz (multithreaded), written to a file descriptor.
// Entries come in archive order through the --include selection restore
// uses (restore_selection.h); file bytes are read from the payload stream
// as restore reads them.
#ifndef ARCA_LIBS_PIPELINE_TAR_EXPORT_H_
#define ARCA_LIBS_PIPELINE_TAR_EXPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/pipeline/cancel.h"
#include "libs/store/repository.h"

namespace arca {

enum class TarFormat { kTar, kTarZstd, kTarXz };

// "tar", "tar.zst", "tar.xz"; InvalidArgument otherwise.
absl::StatusOr<TarFormat> ParseTarFormat(absl::string_view name);

// A byte sink that compresses (or not) and writes to a file descriptor it
// does not own. Not thread-safe; compression threads are internal.
class TarOutput {
 public:
  virtual ~TarOutput() = default;
  // Errors: Internal from the compressor, the errno code of write(2).
  virtual absl::Status Write(absl::string_view data) = 0;
  // Flushes the compressor's end of stream; call once, last.
  virtual absl::Status Finish() = 0;
};

// threads: compression workers (0: one per core).
absl::StatusOr<std::unique_ptr<TarOutput>> NewTarOutput(TarFormat format, int fd, int threads = 0);

struct TarExportOptions {
  std::vector<std::string> includes;  // glob patterns; empty = everything
};

struct TarExportResult {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // file bytes written (payload)
};

// Writes the archive of `snapshot` to `out` and finishes it. Errors:
// NotFound unknown snapshot, InvalidArgument bad include, DataLoss damaged
// repository data (the archive is then incomplete), Cancelled, and out's.
absl::StatusOr<TarExportResult> ExportTar(Repository& repo, absl::string_view snapshot,
                                          const TarExportOptions& options, TarOutput* out,
                                          const CancelToken* cancel);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_TAR_EXPORT_H_
