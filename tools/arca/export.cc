#include "tools/arca/export.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "libs/base/exit_codes.h"

namespace arca::cli {

FlagSpec ExportFlagSpec() { return {{"repo", "include", "format", "output"}, {}}; }

std::vector<std::string> ExportArgv(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  bool positional_only = false;
  for (const std::string& a : argv) {
    if (a == "--") positional_only = true;
    out.push_back(!positional_only && a == "-o" ? "--output" : a);
  }
  return out;
}

absl::StatusOr<ExportRequest> ParseExportRequest(const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError(
        "usage: arca export SNAPSHOT --repo DIR [--include GLOB]... --format tar|tar.zst|tar.xz "
        "[-o FILE|-]");
  }
  ExportRequest r;
  r.snapshot = args.positional[0];
  auto format = args.Last("format");
  if (!format) return absl::InvalidArgumentError("export needs --format tar|tar.zst|tar.xz");
  absl::StatusOr<TarFormat> f = ParseTarFormat(*format);
  if (!f.ok()) return f.status();
  r.format = *f;
  if (auto o = args.Last("output")) r.output = *o;
  if (r.output.empty()) return absl::InvalidArgumentError("-o needs a FILE or -");
  r.options.includes = args.All("include");
  return r;
}

int RunExport(const ExportRequest& request, Repository& repo, const CancelToken* cancel) {
  const bool to_stdout = request.output == "-";
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    fd = ::open(request.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::cerr << "arca: cannot create '" << request.output << "': " << strerror(errno)
                << " (exit 13)\n";
      return static_cast<int>(ExitCode::kRestore);
    }
  }
  absl::Status st;
  absl::StatusOr<std::unique_ptr<TarOutput>> out = NewTarOutput(request.format, fd);
  if (!out.ok()) {
    st = out.status();
  } else {
    absl::StatusOr<TarExportResult> r =
        ExportTar(repo, request.snapshot, request.options, out->get(), cancel);
    st = r.status();
  }
  if (!to_stdout) {
    if (::close(fd) != 0 && st.ok()) st = absl::ErrnoToStatus(errno, "closing the archive");
    if (!st.ok()) ::unlink(request.output.c_str());
  }
  if (st.ok()) return 0;
  ExitCode code = ExitCode::kRestore;
  switch (st.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
      code = ExitCode::kUsage;
      break;
    case absl::StatusCode::kDataLoss:
      code = ExitCode::kVerification;
      break;
    case absl::StatusCode::kCancelled:
      code = ExitCode::kCancelled;
      break;
    default:
      break;
  }
  std::cerr << "arca: " << st.message() << (to_stdout ? "" : "; the partial archive was removed")
            << " (exit " << static_cast<int>(code) << ")\n";
  return static_cast<int>(code);
}

}  // namespace arca::cli
