#include "tools/arca/job_textfile.h"

#include <algorithm>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "arca/v1/repository.pb.h"
#include "libs/metrics/textfile.h"
#include "libs/store/repository.h"

namespace arca::cli {

absl::Status CheckTextfileFlag(const std::optional<std::string>& path) {
  if (!path) return absl::OkStatus();
  if (path->empty()) {
    return absl::InvalidArgumentError(
        "--metrics-textfile: empty path; give the .prom file node_exporter's textfile "
        "collector reads");
  }
  absl::Status st = metrics::CheckMetricsTextfilePath(*path);
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat("--metrics-textfile: ", st.message()));
}

std::optional<std::string> WriteTextfileFlag(
    const std::optional<std::string>& path, const metrics::JobOutcome& outcome,
    std::optional<std::chrono::system_clock::time_point> group_last_success) {
  if (!path) return std::nullopt;
  metrics::TextfileOptions options;
  options.warn = [](const std::string& w) { std::cerr << "arca: warning: " << w << "\n"; };
  absl::Status st = metrics::WriteJobTextfile(*path, outcome, group_last_success, options);
  if (st.ok()) return std::nullopt;
  std::string message = absl::StrCat("metrics textfile ", *path, " not written: ", st.message(),
                                     " (the job's exit code is unchanged)");
  std::cerr << "arca: warning: " << message << "\n";
  return message;
}

std::optional<std::chrono::system_clock::time_point> NewestSnapshotTime(Repository& repo,
                                                                        const std::string& group) {
  if (group.empty()) return std::nullopt;
  absl::StatusOr<std::vector<v1::Manifest>> list = repo.ListSnapshots(group);
  if (!list.ok() || list->empty()) return std::nullopt;
  int64_t newest = 0;
  for (const v1::Manifest& m : *list) newest = std::max<int64_t>(newest, m.time_unix_ns());
  if (newest <= 0) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(newest)));
}

int FinalExitCode(int code, bool cancelled) { return cancelled && code != 0 ? 130 : code; }

}  // namespace arca::cli
