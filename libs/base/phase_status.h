// Attaches the pipeline phase that produced an error to an absl::Status, so
// the phase (and with it the exit code of DESIGN.md §5) survives being
// passed up through libraries, threads and, later, gRPC.
#ifndef ARCA_LIBS_BASE_PHASE_STATUS_H_
#define ARCA_LIBS_BASE_PHASE_STATUS_H_

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "libs/base/exit_codes.h"

namespace arca {

// Returns `status` with `phase` attached (OK stays OK). An already attached
// phase is kept: the innermost phase that failed wins.
absl::Status WithPhase(absl::Status status, v1::Phase phase);

// The attached phase, or PHASE_UNSPECIFIED.
v1::Phase PhaseOf(const absl::Status& status);

// Exit code for a failed status: 130 if cancelled, else by attached phase,
// else 1 (an error no phase claimed is a bug).
ExitCode ExitCodeOf(const absl::Status& status);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_PHASE_STATUS_H_
