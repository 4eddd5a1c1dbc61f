// `arca export SNAPSHOT --repo R [--include GLOB]... --format tar|tar.zst|tar.xz
// [-o FILE|-]`: the embedded-mode command over libs/pipeline/tar_export.h.
#ifndef ARCA_TOOLS_ARCA_EXPORT_H_
#define ARCA_TOOLS_ARCA_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/cli_flags.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/tar_export.h"
#include "libs/store/repository.h"

namespace arca::cli {

// The command's own flags (the caller adds --repo and the S3 flags).
FlagSpec ExportFlagSpec();

// argv with the short "-o" spelled "--output" (cli_flags knows long flags only).
std::vector<std::string> ExportArgv(const std::vector<std::string>& argv);

struct ExportRequest {
  std::string snapshot;
  TarFormat format = TarFormat::kTar;
  std::string output = "-";  // "-" is stdout
  TarExportOptions options;
};

// InvalidArgument (a usage error) for a missing SNAPSHOT or a bad --format.
absl::StatusOr<ExportRequest> ParseExportRequest(const ParsedArgs& args);

// Writes the archive; returns the exit code: 0, 2 unknown snapshot or bad
// --include, 8 damaged repository data, 13 the output cannot be written,
// 130 cancelled. A FILE output is removed when the export fails.
int RunExport(const ExportRequest& request, Repository& repo, const CancelToken* cancel);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_EXPORT_H_
