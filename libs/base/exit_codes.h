// Exit codes of the CLI and job status (DESIGN.md §5) and the mapping of a
// failed phase to its code. The one policy mapping a failed absl::Status to
// an exit code is ExitCodeOf in libs/base/phase_status.h.
#ifndef ARCA_LIBS_BASE_EXIT_CODES_H_
#define ARCA_LIBS_BASE_EXIT_CODES_H_

#include <string_view>

#include "arca/v1/common.pb.h"

namespace arca {

// The same numbers as arca.v1.ExitCode.
enum class ExitCode : int {
  kSuccess = 0,
  kInternal = 1,
  kUsage = 2,
  kPartial = 3,
  kRepository = 4,
  kNoSpace = 5,
  kVerification = 8,
  kCollection = 9,
  kArchive = 10,
  kCompression = 11,
  kUpload = 12,
  kRestore = 13,
  kCancelled = 130,
};

// The exit code of a failure in `phase`, e.g. PHASE_COLLECTION → 9: the
// per-phase column of the policy. PHASE_SETUP and PHASE_UNSPECIFIED give 1.
// Not a status mapping: a failed status goes through ExitCodeOf
// (libs/base/phase_status.h), which applies cancellation, the setup codes
// 2 / 4 / 5 and corruption (8) before falling back to this.
ExitCode ExitCodeForPhase(v1::Phase phase);

// The inverse of ExitCodeForPhase where one exists: the phase a failure with
// `exit_code` happened in, for callers that only have the code (e.g. a job
// outcome without a phase). 2, 4 and 5 are setup failures; 12 gives
// PHASE_UPLOAD (commit failures share its code); 0, 1, 3, 130 and unknown
// codes give PHASE_UNSPECIFIED.
v1::Phase PhaseForExitCode(int exit_code);

// Lower-case name used in messages and metric labels: "collection", ...
const char* PhaseName(v1::Phase phase);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_EXIT_CODES_H_
