#include "services/uploader/commit_time.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace arca::services {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag, absl::string_view value) {
  int64_t seconds = 0;
  absl::Duration d;
  if (absl::SimpleAtoi(value, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (value.empty() || !absl::ParseDuration(value, &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " '", value,
                     "': expected seconds (600) or a duration with units (10m, 600s, 1h30m)"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " '", value, "': the duration must not be negative"));
  }
  return d;
}

absl::Status CheckSnapshotTime(int64_t time_unix_ns, absl::Time now, absl::Duration max_skew) {
  const absl::Time time = absl::FromUnixNanos(time_unix_ns);
  if (time - now <= max_skew) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "commit: the snapshot's time ", Rfc3339(time), " is ", absl::FormatDuration(time - now),
      " ahead of the uploader's clock (", Rfc3339(now),
      "), more than --max-clock-skew=", absl::FormatDuration(max_skew),
      ": fix the clock of the host that made the snapshot (or the uploader's), or raise "
      "--max-clock-skew; no snapshot was written"));
}

}  // namespace arca::services
