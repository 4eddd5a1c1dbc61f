// The uploader's maintenance calls: Forget (libs/store/forget.h) and Gc
// (libs/store/gc.h) on the repository it serves, converted to and from
// protos/arca/v1/uploader.proto. Run by the orchestrator's forget and gc
// jobs; the bulk of the work stays on the repository's node.
#ifndef ARCA_SERVICES_UPLOADER_UPLOADER_MAINTENANCE_H_
#define ARCA_SERVICES_UPLOADER_UPLOADER_MAINTENANCE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "arca/v1/uploader.pb.h"
#include "libs/store/repository.h"
#include "libs/store/retention.h"

namespace arca::services {

// Forget by policy. Errors: InvalidArgument (policy, group); the
// repository's errors; a failed removal (PHASE_SETUP-free: its own code,
// naming the snapshot).
absl::StatusOr<v1::ForgetResponse> ForgetSnapshots(Repository& repo,
                                                   const v1::ForgetRequest& request,
                                                   int64_t now_unix_ns);

// Gc. Errors: InvalidArgument for stale_lock_minutes outside 0 or 2..100000;
// RunGc's errors (DataLoss for a corrupt snapshot: nothing removed).
absl::StatusOr<v1::GcResponse> CollectGarbage(Repository& repo, const v1::GcRequest& request);

}  // namespace arca::services

#endif  // ARCA_SERVICES_UPLOADER_UPLOADER_MAINTENANCE_H_
