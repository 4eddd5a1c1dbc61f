// Job ids: "job-" + a ULID (48-bit creation time in ms, then 80 random bits)
// in lower-case Crockford base32, 26 characters. Unique across restarts and
// orchestrator replicas without coordination, and sorted by creation time.
// Pure functions except NewJobId's randomness.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_ID_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_ID_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace arca::services {

inline constexpr char kJobIdPrefix[] = "job-";
inline constexpr size_t kJobIdPrefixSize = 4;

// A new id for a job created at `now` (random bits from getrandom(2)).
std::string NewJobId(absl::Time now);

// Whether `id` may name a job file: 1..64 characters of [a-z0-9-], starting
// with "job-" (new ULID ids and the "job-000042" ids of earlier versions).
bool IsJobIdShape(std::string_view id);

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_ID_H_
