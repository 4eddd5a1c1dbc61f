#include "services/orchestrator/job_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "libs/base/exit_codes.h"
#include "libs/base/phase_status.h"

namespace arca::services {

v1::JobStatus JobStatusOf(const absl::Status& status, v1::Phase transport_phase,
                          bool cancel_requested, bool shutdown) {
  v1::JobStatus out;
  if (shutdown) {
    out.set_failed_phase(PhaseOf(status));
    out.set_exit_code(v1::EXIT_CODE_INTERNAL);
    out.set_grpc_code(static_cast<int>(absl::StatusCode::kUnavailable));
    out.set_message(kShutdownMessage);
    return out;
  }
  if (status.ok()) {
    out.set_exit_code(v1::EXIT_CODE_SUCCESS);
    return out;
  }
  out.set_grpc_code(static_cast<int>(status.code()));
  out.set_message(std::string(status.message()));
  if (cancel_requested) {
    out.set_message(
        status.code() == absl::StatusCode::kCancelled
            ? "cancelled (CancelJob)"
            : absl::StrCat("cancelled (CancelJob); the stage ended with: ", status.message()));
    out.set_failed_phase(PhaseOf(status));
    out.set_exit_code(v1::EXIT_CODE_CANCELLED);
    out.set_grpc_code(static_cast<int>(absl::StatusCode::kCancelled));
    return out;
  }
  // The exit-code policy: libs/base/phase_status.h.
  out.set_failed_phase(FailedPhaseOf(status, transport_phase));
  out.set_exit_code(static_cast<v1::ExitCode>(ExitCodeOf(status, transport_phase)));
  return out;
}

}  // namespace arca::services
