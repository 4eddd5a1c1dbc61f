#include "libs/metrics/job_metrics.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "libs/base/exit_codes.h"

namespace arca::metrics {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

constexpr const char* kTypes[] = {"backup", "restore", "verify", "forget", "gc", "other"};
constexpr int kOther = 5;
constexpr const char* kResults[] = {"success", "partial", "failure", "cancelled"};
constexpr const char* kPhaseSecondsKeys[] = {
    "setup",        "collection",      "archive",
    "compression",  "upload",          "commit",
    "verification", "restore",         "collection_and_archive",
    "hash_cpu",     "compression_cpu", "upload_drain"};

int TypeIndex(const std::string& type) {
  for (int i = 0; i < kOther; ++i) {
    if (type == kTypes[i]) return i;
  }
  return kOther;
}

double Seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::mutex& LastSuccessMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

void RaiseTo(Gauge& gauge, double value) {
  std::lock_guard<std::mutex> lock(LastSuccessMutex());
  if (gauge.Value() < value) gauge.Set(value);
}

}  // namespace

const char* JobResultLabel(int exit_code) {
  switch (exit_code) {
    case 0:
      return "success";
    case 3:
      return "partial";
    case 130:
      return "cancelled";
    default:
      return "failure";
  }
}

JobMetrics::JobMetrics(Registry& r)
    : jobs(CounterFamily(r, "arca_jobs_total", "Finished jobs by type and result.")),
      failures(CounterFamily(r, "arca_job_failures_total",
                             "Failed jobs by failed phase and exit code (DESIGN.md section 5).")),
      running(GaugeFamily(r, "arca_jobs_running", "Jobs in progress by type.")),
      duration(HistogramFamily(r, "arca_job_duration_seconds", "Wall time of finished jobs.")),
      phase_duration(HistogramFamily(r, "arca_job_phase_duration_seconds",
                                     "Time spent in each phase of finished backups.")),
      last_success(GaugeFamily(r, "arca_last_success_timestamp_seconds",
                               "Unix time of the end of the last backup of the group that "
                               "wrote a snapshot (exit 0 or 3).")),
      last_duration(GaugeFamily(r, "arca_last_job_duration_seconds",
                                "Wall time of the last backup of the group.")),
      last_exit_code(
          GaugeFamily(r, "arca_last_job_exit_code", "Exit code of the last backup of the group.")),
      last_gc_success(GaugeFamily(r, "arca_last_gc_success_timestamp_seconds",
                                  "Unix time of the end of the last garbage collection that "
                                  "succeeded (not a dry run).")),
      collected_bytes(SimpleCounter(r, "arca_job_collected_bytes_total",
                                    "Payload bytes collected by backups (read or reused).")),
      read_bytes(SimpleCounter(r, "arca_job_read_bytes_total",
                               "Payload bytes read from sources by backups.")),
      reused_bytes(SimpleCounter(r, "arca_job_reused_bytes_total",
                                 "Payload bytes reused from parent snapshots.")),
      new_bytes(SimpleCounter(r, "arca_job_new_bytes_total",
                              "Plaintext bytes of chunks new to the repository.")),
      stored_bytes(SimpleCounter(r, "arca_job_stored_bytes_total",
                                 "Stored (compressed + header) bytes of new chunks.")),
      deduplicated_bytes(SimpleCounter(r, "arca_job_deduplicated_bytes_total",
                                       "Plaintext bytes of chunks already in the repository.")),
      padding_bytes(SimpleCounter(r, "arca_job_padding_bytes_total",
                                  "Payload-stream padding bytes written by backups.")),
      metadata_bytes(SimpleCounter(r, "arca_job_metadata_bytes_total",
                                   "Bytes of metadata streams written by backups.")),
      files(SimpleCounter(r, "arca_job_files_total", "Regular files backed up.")),
      new_files(SimpleCounter(r, "arca_job_new_files_total",
                              "Files without a match in the parent snapshot.")),
      reused_files(SimpleCounter(r, "arca_job_reused_files_total",
                                 "Files whose content was reused from the parent snapshot.")),
      skipped_files(SimpleCounter(r, "arca_job_skipped_files_total",
                                  "Unreadable files skipped with a warning.")),
      directories(SimpleCounter(r, "arca_job_directories_total", "Directories backed up.")),
      other_entries(SimpleCounter(r, "arca_job_other_entries_total",
                                  "Symlinks, hardlinks, devices and fifos backed up.")),
      chunks(SimpleCounter(r, "arca_job_chunks_total", "Chunks referenced by backups.")),
      new_chunks(SimpleCounter(r, "arca_job_new_chunks_total",
                               "Chunks written to the repository by backups.")) {
  for (int t = 0; t <= kOther; ++t) {
    running_[t] = &running.Add({{"type", kTypes[t]}});
    if (t == kOther) break;  // "other" has no precreated jobs_total series
    duration.Add({{"type", kTypes[t]}}, JobDurationBuckets());
    for (const char* result : kResults) jobs.Add({{"type", kTypes[t]}, {"result", result}});
  }
  for (const PhaseExit& pair : AllPhaseExits()) {
    failures.Add({{"phase", PhaseName(pair.phase)}, {"exit_code", std::to_string(pair.exit_code)}});
  }
}

Gauge& JobMetrics::Running(const std::string& type) const { return *running_[TypeIndex(type)]; }

void RecordJobResult(JobMetrics& m, const JobOutcome& outcome) {
  const char* type = kTypes[TypeIndex(outcome.type)];
  const std::string result = JobResultLabel(outcome.exit_code);
  m.jobs.Add({{"type", type}, {"result", result}}).Increment();
  if (result == "failure") {
    v1::Phase phase = outcome.failed_phase;
    if (phase == v1::PHASE_UNSPECIFIED) phase = PhaseForExitCode(outcome.exit_code);
    m.failures.Add({{"phase", PhaseName(phase)}, {"exit_code", std::to_string(outcome.exit_code)}})
        .Increment();
  }
  const double seconds =
      std::max(0.0, std::chrono::duration<double>(outcome.end - outcome.start).count());
  m.duration.Add({{"type", type}}, JobDurationBuckets()).Observe(seconds);

  if (outcome.backup_stats.has_value()) {
    const v1::BackupStats& s = *outcome.backup_stats;
    m.collected_bytes.Increment(static_cast<double>(s.bytes_collected()));
    m.read_bytes.Increment(static_cast<double>(s.bytes_read()));
    m.reused_bytes.Increment(static_cast<double>(s.bytes_reused()));
    m.new_bytes.Increment(static_cast<double>(s.bytes_new_raw()));
    m.stored_bytes.Increment(static_cast<double>(s.bytes_new_stored()));
    m.deduplicated_bytes.Increment(static_cast<double>(s.bytes_deduplicated()));
    m.padding_bytes.Increment(static_cast<double>(s.padding_bytes()));
    m.metadata_bytes.Increment(static_cast<double>(s.metadata_bytes()));
    m.files.Increment(static_cast<double>(s.files()));
    m.new_files.Increment(static_cast<double>(s.files_new()));
    m.reused_files.Increment(static_cast<double>(s.files_reused()));
    m.skipped_files.Increment(static_cast<double>(s.files_skipped()));
    m.directories.Increment(static_cast<double>(s.directories()));
    m.other_entries.Increment(static_cast<double>(s.other_entries()));
    m.chunks.Increment(static_cast<double>(s.chunks_total()));
    m.new_chunks.Increment(static_cast<double>(s.chunks_new()));
    for (const char* key : kPhaseSecondsKeys) {
      auto it = s.phase_seconds().find(key);
      if (it == s.phase_seconds().end() || !(it->second >= 0)) continue;
      m.phase_duration.Add({{"phase", key}}, JobDurationBuckets()).Observe(it->second);
    }
  }

  // An unknown group (a job that failed before it could name its group)
  // gets no arca_last_* series: a group="" series would never be updated
  // again and could only mislead the ArcaNoRecentBackup alert.
  if (TypeIndex(outcome.type) == 0 && !outcome.group.empty()) {
    m.last_duration.Add({{"group", outcome.group}}).Set(seconds);
    m.last_exit_code.Add({{"group", outcome.group}}).Set(outcome.exit_code);
    if (outcome.exit_code == 0 || outcome.exit_code == 3) {
      RaiseTo(m.last_success.Add({{"group", outcome.group}}), Seconds(outcome.end));
    }
  }
}

void NoteGcSuccess(JobMetrics& m, std::chrono::system_clock::time_point time) {
  RaiseTo(m.last_gc_success.Add({}), Seconds(time));
}

void NoteLastSuccess(JobMetrics& m, const std::string& group,
                     std::chrono::system_clock::time_point time) {
  RaiseTo(m.last_success.Add({{"group", group}}), Seconds(time));
}

}  // namespace arca::metrics
