// Attaches the pipeline phase that produced an error to an absl::Status, so
// the phase (and with it the exit code of DESIGN.md §5) survives being
// passed up through libraries, threads and gRPC; and the exit-code policy
// that turns such a status into an exit code (ExitCodeOf).
#ifndef ARCA_LIBS_BASE_PHASE_STATUS_H_
#define ARCA_LIBS_BASE_PHASE_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/base/exit_codes.h"

namespace arca {

// The absl payload URL under which WithPhase attaches the phase (its value:
// the Phase number in decimal). On the wire it travels as a
// google.rpc.ErrorInfo instead (libs/rpc/status_convert.h).
inline constexpr char kPhasePayloadUrl[] = "type.arca.dev/arca.v1.Phase";

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

// The exit-code policy (DESIGN.md §5): the one place a status becomes an
// exit code, the same for the embedded CLI and for orchestrator jobs.
//
// `transport_phase` is for a caller whose `status` is the outcome of a call
// to another service: the phase of that service (the orchestrator: the
// chunker of a backup → PHASE_ARCHIVE, of a restore → PHASE_RESTORE, the
// uploader of a verify → PHASE_UPLOAD). It is PHASE_UNSPECIFIED for work
// done in-process (the embedded CLI), where a CANCELLED can only come from
// the caller's own cancel token. A caller with a transport phase knows
// whether it asked for the cancellation and applies that itself (the
// orchestrator's CancelJob → 130 in JobStatusOf).
//
// Rules, the first that matches wins. "No phase": PhaseOf is
// PHASE_UNSPECIFIED. "Reported" is what FailedPhaseOf returns.
//
// | #  | phase attached        | code                               | reported    | exit |
// |----|-----------------------|------------------------------------|-------------|------|
// | 1  | any                   | OK                                 | unspecified | 0    |
// | 2  | any                   | CANCELLED, no transport_phase      | as attached | 130  |
// | 3  | none                  | DATA_LOSS                          | unspecified | 8    |
// | 4  | none                  | INVALID_ARGUMENT, NOT_FOUND        | setup       | 2    |
// | 5  | none                  | UNAVAILABLE, DEADLINE_EXCEEDED,    | transport   | (a)  |
// |    |                       | CANCELLED, UNKNOWN, INTERNAL,      | phase       |      |
// |    |                       | ABORTED                            |             |      |
// | 6  | none                  | any other                          | unspecified | 1    |
// | 7  | SETUP                 | INVALID_ARGUMENT, NOT_FOUND        | setup       | 2    |
// | 8  | SETUP                 | FAILED_PRECONDITION                | setup       | 4    |
// | 9  | SETUP                 | RESOURCE_EXHAUSTED                 | setup       | 5    |
// | 10 | SETUP                 | any other                          | setup       | 1    |
// | 11 | RESTORE, VERIFICATION | DATA_LOSS                          | that phase  | 8    |
// | 12 | any other             | any (CANCELLED included)           | that phase  | (b)  |
//
// (a) the transport phase's code by rule 12 (1 without a transport phase):
//     the called service was unreachable, died or cut the call.
// (b) ExitCodeForPhase: collection 9, archive 10, compression 11, upload 12,
//     commit 12, verification 8, restore 13. A stage's own CANCELLED (only
//     seen with a transport phase) is a failure of that stage.
// Rule 3 and 11: corrupt repository data; 4: bad input or an unknown
// snapshot; 6: an error no phase claimed (a bug); 8: repository missing,
// locked or incompatible; 9: not enough free space.
ExitCode ExitCodeOf(const absl::Status& status, v1::Phase transport_phase = v1::PHASE_UNSPECIFIED);

// The phase reported with ExitCodeOf(status, transport_phase): the
// "reported" column above (PHASE_UNSPECIFIED for OK). It differs from
// PhaseOf only for a status without a phase (rules 4 and 5).
v1::Phase FailedPhaseOf(const absl::Status& status,
                        v1::Phase transport_phase = v1::PHASE_UNSPECIFIED);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_PHASE_STATUS_H_
