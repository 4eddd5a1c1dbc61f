#include "libs/pipeline/space_check.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"

namespace arca {

absl::Status ValidateSpaceSafetyFactor(double factor, absl::string_view field) {
  if (std::isfinite(factor) && factor >= 1.0 && factor <= 100) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", field, " ", factor, ": use a number between 1 and 100"));
}

double BytesNeeded(const SpaceEstimate& estimate, double safety_factor) {
  return static_cast<double>(estimate.bytes_to_collect) * estimate.compression_ratio *
         safety_factor;
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return absl::StrCat(static_cast<int64_t>(b * 10) / 10.0, " ", units[u]);
}

absl::Status CheckFreeSpace(const SpaceEstimate& estimate, uint64_t free_bytes,
                            double safety_factor, absl::string_view repo_label) {
  if (absl::Status st = ValidateSpaceSafetyFactor(safety_factor, "space safety factor"); !st.ok()) {
    return WithPhase(st, v1::PHASE_SETUP);
  }
  const double needed = BytesNeeded(estimate, safety_factor);
  // A NaN ratio (never produced by the repository) must not pass silently.
  if (!(static_cast<double>(free_bytes) >= needed)) {
    return WithPhase(
        absl::ResourceExhaustedError(absl::StrCat(
            "not enough free space in ", repo_label, ": the backup needs an estimated ",
            HumanBytes(needed), " (", estimate.bytes_to_collect,
            " bytes to collect x compression ratio ", estimate.compression_ratio,
            " x safety factor ", safety_factor, ") but only ",
            HumanBytes(static_cast<double>(free_bytes)), " (", free_bytes,
            " bytes) are free; free space or lower --space-safety-factor")),
        v1::PHASE_SETUP);
  }
  return absl::OkStatus();
}

}  // namespace arca
