// The uploader's refusal of future-dated snapshots (issue 10): a snapshot
// whose time is more than --max-clock-skew ahead of the uploader's clock
// would become `latest` (and the parent of every later backup) for as long
// as that time is ahead. Pure logic, no I/O: the caller passes its clock.
#ifndef ARCA_SERVICES_UPLOADER_COMMIT_TIME_H_
#define ARCA_SERVICES_UPLOADER_COMMIT_TIME_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace arca::services {

inline constexpr absl::Duration kDefaultMaxClockSkew = absl::Minutes(10);

// The value of a duration flag: whole seconds ("600") or a duration with
// units as absl::ParseDuration reads them ("10m", "600s", "1h30m").
// InvalidArgument "invalid --<flag> '<value>': ..." for anything else or
// a negative value.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag, absl::string_view value);

// OK when `time_unix_ns` is at most `max_skew` after `now`. Otherwise
// FailedPrecondition (the request is well formed; the clocks disagree: fix
// the clock of the host that made the snapshot, or raise the flag) naming
// the snapshot's time, the uploader's clock and --max-clock-skew.
absl::Status CheckSnapshotTime(int64_t time_unix_ns, absl::Time now, absl::Duration max_skew);

}  // namespace arca::services

#endif  // ARCA_SERVICES_UPLOADER_COMMIT_TIME_H_
