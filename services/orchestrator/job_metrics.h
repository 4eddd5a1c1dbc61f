// The orchestrator's job metrics: the catalog shared by every JobManager of
// the process and what a job's start and end count in it.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_METRICS_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_METRICS_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/orchestrator.pb.h"
#include "arca/v1/uploader.pb.h"
#include "libs/metrics/service_metrics.h"

namespace arca::services {

// The orchestrator's catalog (arca_jobs_total, arca_job_failures_total,
// arca_jobs_running, arca_last_success_timestamp_seconds, ...; JobMetrics)
// on metrics::ProcessRegistry(), created on first use and shared by every
// JobManager of the process. A JobManager counts:
//   arca_jobs_running{type}  +1 from the job's admission (it leaves QUEUED)
//                            to its end;
//   RecordJobResult          when any job ends: type backup|restore|verify,
//                            exit code and failed phase of its JobStatus,
//                            start/end, for backups the group (the group of
//                            the snapshot written, else
//                            Repository::GroupName(host, source)) and the
//                            BackupStats of the chunker's result;
//   NoteLastSuccess          at start, the newest snapshot of every group.
metrics::OrchestratorMetrics& OrchestratorServiceMetrics();

// The `type` label of a job: "backup", "restore", "verify" (else "other").
const char* JobTypeLabel(v1::JobType type);

// A job was created: arca_jobs_running{type} +1.
void CountJobStart(v1::JobType type);

// A job ended: RecordJobResult with its type, exit code, failed phase, start
// and end, for a backup also its group (the group of the snapshot written,
// "GROUP/TIME", else `group`) and the BackupStats of `result` (may be null);
// then, when it had been admitted (`was_running`), arca_jobs_running{type}
// -1. A job that ends while QUEUED (cancelled, shutdown) is counted too.
void CountJobEnd(const v1::Job& job, const std::string& group, absl::Time start, absl::Time end,
                 const v1::StageResult* result, bool was_running = true);

size_t NoteNewestSnapshots(const v1::ListSnapshotsResponse& response);

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_METRICS_H_
