// The free-space check a backup does before it writes anything (DESIGN.md §5,
// exit 5): the repository's file system must have room for the bytes to
// collect × the expected compression ratio × a safety factor. Pure functions,
// shared by the embedded backup (libs/pipeline/backup.cc) and the
// distributed one (the chunker, services/chunker), so both decide and word
// the refusal the same way.
//
// Thread-safety: stateless, thread-safe.
#ifndef ARCA_LIBS_PIPELINE_SPACE_CHECK_H_
#define ARCA_LIBS_PIPELINE_SPACE_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace arca {

// --space-safety-factor when none is given (a 0 in the protos).
inline constexpr double kDefaultSpaceSafetyFactor = 1.5;

struct SpaceEstimate {
  // Bytes the backup will read: a metadata walk of the source
  // (EstimateSourceBytes), or with a parent snapshot the parent's
  // bytes_collected (an upper bound of what an incremental backup stores).
  uint64_t bytes_to_collect = 0;
  // Expected stored/raw ratio (Repository::ObservedCompressionRatio; 1.0
  // when unknown).
  double compression_ratio = 1.0;
};

// OK when `factor` is a finite number in [1, 100]. Otherwise
// INVALID_ARGUMENT naming `field` (e.g. "--space-safety-factor",
// "plan.space_safety_factor"), the value and the valid range. NaN and
// infinities are refused. No phase is attached.
absl::Status ValidateSpaceSafetyFactor(double factor, absl::string_view field);

// The estimated bytes needed: bytes_to_collect × compression_ratio × factor.
double BytesNeeded(const SpaceEstimate& estimate, double safety_factor);

// OK when `free_bytes` >= BytesNeeded(estimate, safety_factor). Otherwise
// RESOURCE_EXHAUSTED with PHASE_SETUP attached (exit 5):
//   "not enough free space in <repo_label>: the backup needs an estimated
//    <human> (<N> bytes to collect x compression ratio <r> x safety factor
//    <f>) but only <human> (<F> bytes) are free; free space or lower
//    --space-safety-factor".
// `safety_factor` is assumed valid (ValidateSpaceSafetyFactor); an invalid
// one (NaN, < 1, > 100) gives INVALID_ARGUMENT with PHASE_SETUP, never OK.
absl::Status CheckFreeSpace(const SpaceEstimate& estimate, uint64_t free_bytes,
                            double safety_factor, absl::string_view repo_label);

// "1.5 MiB": one decimal, truncated, B/KiB/MiB/GiB/TiB.
std::string HumanBytes(double bytes);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SPACE_CHECK_H_
