// Job metrics (DESIGN.md §8): what the orchestrator exports on /metrics and
// what the embedded CLI writes to a node_exporter textfile
// (`--metrics-textfile`, libs/metrics/textfile.h). Both record a finished job
// with RecordJobResult, so the two exports carry the same series.
//
// Series (all created at 0 by the constructor unless noted):
//   arca_jobs_total{type,result}              type backup|restore|verify|forget|gc,
//                                             result success|partial|failure|cancelled
//   arca_job_failures_total{phase,exit_code}  every pair of AllPhaseExits()
//   arca_jobs_running{type}                   gauge
//   arca_job_duration_seconds{type}           histogram
//   arca_job_phase_duration_seconds{phase}    histogram, from BackupStats.phase_seconds
//   arca_job_*_bytes_total, arca_job_*_files_total, arca_job_*chunks_total
//                                             from BackupStats (backups only)
//   arca_last_success_timestamp_seconds{group}  gauge, backups; created on
//                                             the first success of the group
//   arca_last_job_duration_seconds{group}     gauge, backups; created by the
//   arca_last_job_exit_code{group}            first backup of the group
//   arca_last_gc_success_timestamp_seconds    gauge; created by the first gc
//                                             that succeeded (NoteGcSuccess)
//
// Thread-safety: all functions may be called concurrently; a JobMetrics must
// outlive its users and its registry must outlive it.
#ifndef ARCA_LIBS_METRICS_JOB_METRICS_H_
#define ARCA_LIBS_METRICS_JOB_METRICS_H_

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "arca/v1/common.pb.h"
#include "libs/metrics/registry.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace arca::metrics {

// A finished job, in plain types (no absl): what RecordJobResult counts.
struct JobOutcome {
  std::string type;   // "backup", "restore" or "verify"; anything else counts as "other"
  std::string group;  // backup group (label of the arca_last_* gauges); backups only
  int exit_code = 0;  // DESIGN.md §5: 0 success, 3 partial, 130 cancelled, else failure
  // The phase that failed. PHASE_UNSPECIFIED with a failing exit code is
  // inferred from the code (8 verification, 9 collection, 10 archive,
  // 11 compression, 12 upload, 13 restore, 2/4/5 setup).
  v1::Phase failed_phase = v1::PHASE_UNSPECIFIED;
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  // Statistics of a backup (also of a failed one: whatever work was done).
  std::optional<v1::BackupStats> backup_stats;
};

// "success" (0), "partial" (3), "cancelled" (130) or "failure".
const char* JobResultLabel(int exit_code);

struct JobMetrics {
  explicit JobMetrics(prometheus::Registry& registry);

  // arca_jobs_running{type}; unknown types give the "other" series. Use with
  // GaugeInFlight (service_metrics.h) or Increment/Decrement.
  prometheus::Gauge& Running(const std::string& type) const;

  prometheus::Family<prometheus::Counter>& jobs;              // arca_jobs_total
  prometheus::Family<prometheus::Counter>& failures;          // arca_job_failures_total
  prometheus::Family<prometheus::Gauge>& running;             // arca_jobs_running
  prometheus::Family<prometheus::Histogram>& duration;        // arca_job_duration_seconds
  prometheus::Family<prometheus::Histogram>& phase_duration;  // arca_job_phase_duration_seconds
  prometheus::Family<prometheus::Gauge>& last_success;        // arca_last_success_timestamp_seconds
  prometheus::Family<prometheus::Gauge>& last_duration;       // arca_last_job_duration_seconds
  prometheus::Family<prometheus::Gauge>& last_exit_code;      // arca_last_job_exit_code
  prometheus::Family<prometheus::Gauge>& last_gc_success;  // arca_last_gc_success_timestamp_seconds

  // Backup statistics (BackupStats field in parentheses).
  prometheus::Counter& collected_bytes;  // arca_job_collected_bytes_total (bytes_collected)
  prometheus::Counter& read_bytes;       // arca_job_read_bytes_total (bytes_read)
  prometheus::Counter& reused_bytes;     // arca_job_reused_bytes_total (bytes_reused)
  prometheus::Counter& new_bytes;        // arca_job_new_bytes_total (bytes_new_raw)
  prometheus::Counter& stored_bytes;     // arca_job_stored_bytes_total (bytes_new_stored)
  prometheus::Counter&
      deduplicated_bytes;               // arca_job_deduplicated_bytes_total (bytes_deduplicated)
  prometheus::Counter& padding_bytes;   // arca_job_padding_bytes_total (padding_bytes)
  prometheus::Counter& metadata_bytes;  // arca_job_metadata_bytes_total (metadata_bytes)
  prometheus::Counter& files;           // arca_job_files_total (files)
  prometheus::Counter& new_files;       // arca_job_new_files_total (files_new)
  prometheus::Counter& reused_files;    // arca_job_reused_files_total (files_reused)
  prometheus::Counter& skipped_files;   // arca_job_skipped_files_total (files_skipped)
  prometheus::Counter& directories;     // arca_job_directories_total (directories)
  prometheus::Counter& other_entries;   // arca_job_other_entries_total (other_entries)
  prometheus::Counter& chunks;          // arca_job_chunks_total (chunks_total)
  prometheus::Counter& new_chunks;      // arca_job_new_chunks_total (chunks_new)

 private:
  std::array<prometheus::Gauge*, 6> running_;  // backup, restore, verify, forget, gc, other
};

// Counts a finished job: arca_jobs_total{type,result}; on failure
// arca_job_failures_total{phase,exit_code}; arca_job_duration_seconds{type};
// for a backup with stats the byte/file/chunk counters and
// arca_job_phase_duration_seconds (only phase_seconds keys from a fixed list
// are exported: the DESIGN §5 phase names and the pipeline's
// "collection_and_archive", "hash_cpu", "compression_cpu", "upload_drain";
// other keys are dropped to bound cardinality); for a backup, the
// arca_last_job_{duration_seconds,exit_code}{group} gauges and, when it wrote
// a snapshot (exit 0 or 3), arca_last_success_timestamp_seconds{group} = end
// (never moved backwards); no arca_last_* series when `group` is empty.
// Does not touch arca_jobs_running.
void RecordJobResult(JobMetrics& metrics, const JobOutcome& outcome);

// Sets arca_last_success_timestamp_seconds{group} to `time` unless it already
// holds a later time. For callers that know the group's last successful
// backup from the repository (e.g. a cron run whose previous textfile is
// gone, or a freshly started orchestrator).
// Sets arca_last_gc_success_timestamp_seconds to `time` unless it is
// already later (a gc that removed what it should, not a dry run).
void NoteGcSuccess(JobMetrics& metrics, std::chrono::system_clock::time_point time);

void NoteLastSuccess(JobMetrics& metrics, const std::string& group,
                     std::chrono::system_clock::time_point time);

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_JOB_METRICS_H_
