// `--metrics-textfile PATH` of `arca backup|restore|verify` (issue 5): the
// finished job's metrics (libs/metrics/job_metrics.h) written to a
// node_exporter textfile, carried forward across runs
// (libs/metrics/textfile.h, libs/metrics/README.md "Textfile").
//
// Contract of the CLI: the path is checked before any work (exit 2 when it
// cannot be written); once the job has started, every exit (0, 3, 4, 5, 8,
// 9, ..., 130) is recorded; a failure to write the file is a warning on
// stderr and never changes the job's exit code.
//
// Thread-safety: plain functions, no shared state.
#ifndef ARCA_TOOLS_ARCA_JOB_TEXTFILE_H_
#define ARCA_TOOLS_ARCA_JOB_TEXTFILE_H_

#include <chrono>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "libs/metrics/job_metrics.h"

namespace arca {
class Repository;
}

namespace arca::cli {

// The flag's name, for FlagSpec lists.
inline constexpr char kMetricsTextfileFlag[] = "metrics-textfile";

// Before any work: OK when `path` is unset or can be written
// (metrics::CheckMetricsTextfilePath). Otherwise the error, its message
// prefixed with "--metrics-textfile: " (the caller exits 2).
absl::Status CheckTextfileFlag(const std::optional<std::string>& path);

// After the job: metrics::WriteJobTextfile(path, outcome, group_last_success).
// Does nothing when `path` is unset. On failure prints
// "arca: warning: metrics textfile PATH not written: ..." on stderr and
// returns that message (without the "arca: warning: " prefix) so --json
// output can carry it; returns nullopt on success.
std::optional<std::string> WriteTextfileFlag(
    const std::optional<std::string>& path, const metrics::JobOutcome& outcome,
    std::optional<std::chrono::system_clock::time_point> group_last_success);

// The time of the newest visible snapshot of `group` in `repo` (the seed of
// arca_last_success_timestamp_seconds{group}, so the gauge survives a lost
// textfile). nullopt when the group has no snapshot or cannot be listed
// (a listing error is not the job's business here; verify reports it).
std::optional<std::chrono::system_clock::time_point> NewestSnapshotTime(Repository& repo,
                                                                        const std::string& group);

// The exit code the process ends with: 130 when the run was cancelled and
// `code` is a failure, else `code` (the rule of arca.cc's Main, so the
// textfile counts what the shell sees).
int FinalExitCode(int code, bool cancelled);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_JOB_TEXTFILE_H_
