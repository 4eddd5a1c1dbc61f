// Checks of the job API's Start requests (orchestrator.proto), made before
// any job exists: a request that fails one creates no job. Pure functions.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_REQUESTS_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_REQUESTS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "arca/v1/orchestrator.pb.h"

namespace arca::services {

// The longest path, snapshot id, parent or group a request may carry.
inline constexpr size_t kMaxRequestPathBytes = 4096;

// OK, or InvalidArgument naming the field: an empty, relative, over-long
// or NUL-containing source; a bad exclude pattern (or more than 10 000); an
// unknown codec; a negative level or one the codec does not take; a
// space_safety_factor not 0 or 1..100; group set (derived from host and
// source in distributed mode); parent with change_detection_data; an
// over-long parent or host (255); more than 100 commands, a bad or
// duplicate command name.
// Also labels (libs/base/labels.h) and request_id, as every Start request.
absl::Status ValidateBackupRequest(const v1::StartBackupRequest& r);

// A Start request's request_id: empty, or 1..64 of [A-Za-z0-9_.:-].
absl::Status ValidateRequestId(const std::string& request_id);

// OK, or InvalidArgument: an empty or over-long snapshot; an empty,
// relative, over-long or NUL-containing target; a bad include pattern.
absl::Status ValidateRestoreRequest(const v1::StartRestoreRequest& r);

// OK, or InvalidArgument: an over-long snapshot; workers outside 0..256.
absl::Status ValidateVerifyRequest(const v1::StartVerifyRequest& r);
absl::Status ValidateForgetRequest(const v1::StartForgetRequest& r);
absl::Status ValidateGcRequest(const v1::StartGcRequest& r);

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_REQUESTS_H_
