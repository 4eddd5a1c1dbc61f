// The node_exporter textfile export of a registry (`arca ... --metrics-textfile
// PATH`, issue 5): cron-style runs of the embedded CLI leave their job
// metrics in a file that node_exporter's textfile collector serves.
//
// Carry-forward (libs/metrics/README.md "Textfile"): each run is a fresh
// process whose counters start at 0, so before writing, the file already at
// PATH is read and merged: counters and histograms add the previous values,
// series only the previous file has (another group's
// arca_last_success_timestamp_seconds, a failure label seen in an earlier
// run) are kept, and for series both have, gauges take the new value. A
// failed run therefore keeps the group's last success time and adds to the
// failure counters. Only files this library wrote (first line kTextfileMarker)
// are merged; anything else is replaced, with a warning.
//
// Thread-safety: WriteMetricsTextfile may be called from several threads and
// processes on the same PATH; writers take an exclusive flock(2) on the
// directory from reading the previous file until the rename, so concurrent
// cron runs do not lose each other's increments.
#ifndef ARCA_LIBS_METRICS_TEXTFILE_H_
#define ARCA_LIBS_METRICS_TEXTFILE_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/metrics/job_metrics.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace arca::metrics {

// First line of every file WriteMetricsTextfile writes (a comment for
// Prometheus' text format); identifies files that may be carried forward.
inline constexpr char kTextfileMarker[] = "# arca metrics textfile v1";

struct TextfileOptions {
  // Merge with the previous file at the path (see above). False: overwrite.
  bool carry_forward = true;
  // Receives a warning when the previous file is not ours or cannot be
  // parsed (it is then replaced). Unset: the warning goes to stderr.
  std::function<void(const std::string&)> warn;
};

// Writes `registry` (merged with the previous file unless disabled) to
// `path` in the Prometheus text format, atomically: a temporary file
// ".<name>.tmp.XXXXXX" in the same directory (node_exporter ignores it) is
// written, fsynced, made mode 0644 and renamed over `path`, then the
// directory is fsynced. On any error the temporary file is removed and the
// old file is left as it was.
// Errors (each message names `path`): FailedPrecondition when the directory
// is missing, not a directory or not writable, or when `path` exists but
// cannot be read or is a directory; ResourceExhausted when the disk or quota
// is full.
absl::Status WriteMetricsTextfile(const prometheus::Registry& registry, const std::string& path,
                                  const TextfileOptions& options = {});

// The whole `--metrics-textfile PATH` export of one CLI run: a fresh
// registry with a JobMetrics, RecordJobResult(outcome), then, when given,
// NoteLastSuccess(outcome.group, *group_last_success) (the newest snapshot
// of the group in the repository, so the gauge exists even if the previous
// file was lost), then WriteMetricsTextfile(path, options). Errors: those of
// WriteMetricsTextfile.
absl::Status WriteJobTextfile(
    const std::string& path, const JobOutcome& outcome,
    std::optional<std::chrono::system_clock::time_point> group_last_success = std::nullopt,
    const TextfileOptions& options = {});

// Checks, before any work starts, that `path` can be written: its directory
// exists and a temporary file can be created in it (and is removed again),
// and `path` is not a directory. Same codes and messages as
// WriteMetricsTextfile (the CLI exits 2 on them: a usage error found before
// the backup runs rather than after).
absl::Status CheckMetricsTextfilePath(const std::string& path);

// Parses the Prometheus text format as this library writes it (the subset
// prometheus-cpp's TextSerializer emits: HELP/TYPE lines, counters, gauges,
// untyped and histograms; no timestamps needed). InvalidArgument naming the
// line number for anything else (a summary, a sample without TYPE, a
// malformed label or value).
absl::StatusOr<std::vector<prometheus::MetricFamily>> ParseMetricsText(const std::string& text);

// The carry-forward merge: `current` plus `previous` as described above.
// Families of `previous` that `current` does not have are kept unchanged
// (prometheus-cpp does not export families without series); a family that
// `current` has with another type is dropped; a histogram series whose
// bucket bounds differ keeps the current values. Pure function.
std::vector<prometheus::MetricFamily> MergeCarriedForward(
    const std::vector<prometheus::MetricFamily>& previous,
    std::vector<prometheus::MetricFamily> current);

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_TEXTFILE_H_
