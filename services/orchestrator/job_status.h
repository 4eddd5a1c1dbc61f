// A job's outcome as the JobStatus of the job API (orchestrator.proto):
// failed phase, exit code (DESIGN.md §5), gRPC code and message.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_STATUS_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_STATUS_H_

#include "absl/status/status.h"
#include "arca/v1/orchestrator.pb.h"

namespace arca::services {

// The status part of a job's end: which phase failed, the exit code of
// DESIGN.md §5. `status` is the outcome of the job's call with its phase
// restored (FromGrpcStatus); `transport_phase` is the phase of the service
// that was called (chunker of a backup → PHASE_ARCHIVE, of a restore →
// PHASE_RESTORE, uploader of a verify → PHASE_UPLOAD). failed_phase and
// exit_code follow the exit-code policy, FailedPhaseOf / ExitCodeOf(status,
// transport_phase) in libs/base/phase_status.h; this adds only what is the
// job's own: `cancel_requested` (CancelJob) turns any failure into 130
// (grpc_code CANCELLED, failed_phase as attached), and the message and
// grpc_code of the status; `shutdown` (the orchestrator ended the job
// because it shuts down) gives exit 1, grpc_code UNAVAILABLE and a message
// saying so, whatever the stage answered. OK gives exit 0 (the caller
// applies a result's 3).
v1::JobStatus JobStatusOf(const absl::Status& status, v1::Phase transport_phase,
                          bool cancel_requested, bool shutdown = false);

// The message of a job ended by the orchestrator's shutdown.
inline constexpr char kShutdownMessage[] =
    "interrupted: the orchestrator shut down while this job ran (SIGTERM or a restart); its "
    "stage call was cancelled with it, so a backup committed nothing unless `snapshots` lists "
    "it: start the job again";

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_STATUS_H_
