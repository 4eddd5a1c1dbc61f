#include "services/orchestrator/job_metrics.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/registry.h"

namespace arca::services {

metrics::OrchestratorMetrics& OrchestratorServiceMetrics() {
  // One catalog per process, never destroyed (like the registry).
  static metrics::OrchestratorMetrics* const m =
      new metrics::OrchestratorMetrics(*metrics::ProcessRegistry());
  return *m;
}

const char* JobTypeLabel(v1::JobType type) {
  // The enum's own names, lower case, without the prefix: a new job type
  // gets its label without a new line here (and the remote CLI words it the
  // same way). Built once: the metric label is a bounded set.
  static const auto* const labels = [] {
    auto* m = new absl::flat_hash_map<int, std::string>();
    const google::protobuf::EnumDescriptor* e = v1::JobType_descriptor();
    for (int i = 0; i < e->value_count(); ++i) {
      absl::string_view name = e->value(i)->name();
      if (e->value(i)->number() == v1::JOB_TYPE_UNSPECIFIED ||
          !absl::ConsumePrefix(&name, "JOB_TYPE_")) {
        continue;
      }
      (*m)[e->value(i)->number()] = absl::AsciiStrToLower(name);
    }
    return m;
  }();
  auto it = labels->find(type);
  return it == labels->end() ? "other" : it->second.c_str();
}

void CountJobStart(v1::JobType type) {
  OrchestratorServiceMetrics().jobs.Running(JobTypeLabel(type)).Increment();
}

void CountJobEnd(const v1::Job& job, const std::string& group, absl::Time start, absl::Time end,
                 const v1::StageResult* result, bool was_running) {
  metrics::OrchestratorMetrics& m = OrchestratorServiceMetrics();
  metrics::JobOutcome outcome;
  outcome.type = JobTypeLabel(job.type());
  outcome.exit_code = static_cast<int>(job.status().exit_code());
  outcome.failed_phase = job.status().failed_phase();
  outcome.start = absl::ToChronoTime(start);
  outcome.end = absl::ToChronoTime(end);
  if (job.type() == v1::JOB_TYPE_BACKUP) {
    outcome.group = group;
    const std::string& snapshot = job.snapshot();  // "GROUP/TIME" when written
    if (const size_t slash = snapshot.find('/'); slash != std::string::npos && slash > 0) {
      outcome.group = snapshot.substr(0, slash);
    }
    if (result != nullptr && result->has_stats()) outcome.backup_stats = result->stats();
  }
  metrics::RecordJobResult(m.jobs, outcome);
  if (was_running) m.jobs.Running(outcome.type).Decrement();
}

size_t NoteNewestSnapshots(const v1::ListSnapshotsResponse& response) {
  absl::flat_hash_map<std::string, int64_t> newest;  // group → time_unix_ns
  for (const v1::SnapshotInfo& info : response.snapshots()) {
    if (info.group().empty()) continue;
    int64_t& t = newest[info.group()];
    t = std::max(t, info.time_unix_ns());
  }
  for (const auto& [group, ns] : newest) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::nanoseconds(ns));
    metrics::NoteLastSuccess(OrchestratorServiceMetrics().jobs, group,
                             std::chrono::system_clock::time_point(since_epoch));
  }
  return newest.size();
}

}  // namespace arca::services
