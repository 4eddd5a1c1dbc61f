// Forgetting snapshots by a retention policy (retention.h) in one
// repository: the decisions, then Repository::ForgetSnapshot for each
// snapshot no rule keeps. Shared by `arca forget` and the uploader's Forget
// RPC. Never removes a chunk (gc.h frees them).
#ifndef ARCA_LIBS_STORE_FORGET_H_
#define ARCA_LIBS_STORE_FORGET_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/uploader.pb.h"
#include "libs/store/repository.h"
#include "libs/store/retention.h"

namespace arca {

// The policy of a request (protos/arca/v1/uploader.proto RetentionPolicy).
// InvalidArgument naming the field for a bad keep_within or a count below
// -1, or an empty policy.
absl::StatusOr<RetentionPolicy> PolicyFromProto(const v1::RetentionPolicy& p);

struct ForgetOutcome {
  std::vector<RetentionGroup> groups;  // every snapshot's decision
  std::set<std::string> removed;       // ids removed by this call (or by a concurrent forget)
  uint64_t total = 0;
  uint64_t to_remove = 0;
  // The first removal that failed; the removals stop there and the rest
  // stay (OK when none failed).
  absl::Status failure;
};

// Applies `policy` to the snapshots of `group` ("" = every group) that have
// every label of `selector` (retention.h; the others are kept, "label
// mismatch") and, unless `dry_run`, removes those no rule keeps.
// `now_unix_ns` is the keep_within reference's bound (retention.h). Errors
// (nothing removed): InvalidArgument for an empty policy, a bad group or a
// selector label that is not valid syntax (CheckLabels, field "labels");
// the errors of ListSnapshots. A failed removal is in ForgetOutcome::failure.
absl::StatusOr<ForgetOutcome> ForgetByPolicy(Repository& repo, const std::string& group,
                                             const RetentionPolicy& policy, bool dry_run,
                                             int64_t now_unix_ns,
                                             const LabelSelector& selector = {});

}  // namespace arca

#endif  // ARCA_LIBS_STORE_FORGET_H_
