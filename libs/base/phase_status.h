// Attaches the pipeline phase that produced an error to an absl::Status, so
// the phase (and with it the exit code of DESIGN.md §5) survives being
// passed up through libraries, threads and, later, gRPC.
#ifndef ARCA_LIBS_BASE_PHASE_STATUS_H_
#define ARCA_LIBS_BASE_PHASE_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/base/exit_codes.h"

namespace arca {

// Returns `status` with `phase` attached (OK stays OK). An already attached
// phase is kept: the innermost phase that failed wins.
absl::Status WithPhase(absl::Status status, v1::Phase phase);

// `status` with `message` instead of its own: the same code and payloads
// (an attached phase among them), for a layer that adds context to an
// error it passes up ("stream offset N: chunk X: " + status.message()).
// OK stays OK.
absl::Status WithMessage(const absl::Status& status, absl::string_view message);

// The attached phase, or PHASE_UNSPECIFIED.
v1::Phase PhaseOf(const absl::Status& status);

// Exit code for a failed status: 130 if cancelled, else by attached phase,
// else 1 (an error no phase claimed is a bug).
ExitCode ExitCodeOf(const absl::Status& status);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_PHASE_STATUS_H_
