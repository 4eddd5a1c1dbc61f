// Paging of snapshot lists (ListSnapshots of the uploader and of the
// orchestrator's job API): by id, page_size / page_token /
// next_page_token (AIP-158). Pure functions.
#ifndef ARCA_LIBS_STORE_SNAPSHOT_PAGE_H_
#define ARCA_LIBS_STORE_SNAPSHOT_PAGE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "arca/v1/uploader.pb.h"

namespace arca {

inline constexpr int kMaxSnapshotPageSize = 1000;

// Removes from `all` the snapshots that lack one of `request.labels()` (a
// label with another value counts as lacking). InvalidArgument naming
// "labels" when a requested label is not valid syntax (CheckLabels; the
// request comes from the network).
absl::Status SelectSnapshotsByLabels(std::vector<v1::SnapshotInfo>& all,
                                     const v1::ListSnapshotsRequest& request);

// The page of `all` (any order: sorted here by id) that `request` asks for,
// among the snapshots SelectSnapshotsByLabels keeps (the filter is applied
// before paging, so pages are full and the token stays an id):
// page_size 0 = every snapshot after the token, else at most
// min(page_size, kMaxSnapshotPageSize); the token is the next_page_token of
// the previous page for the same group. InvalidArgument naming page_size or
// page_token otherwise; the errors of SelectSnapshotsByLabels.
absl::StatusOr<v1::ListSnapshotsResponse> PageOfSnapshots(std::vector<v1::SnapshotInfo> all,
                                                          const v1::ListSnapshotsRequest& request);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_SNAPSHOT_PAGE_H_
