#include "libs/store/forget.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/labels.h"
#include "libs/base/status_macros.h"

namespace arca {

absl::StatusOr<RetentionPolicy> PolicyFromProto(const v1::RetentionPolicy& p) {
  RetentionPolicy policy;
  policy.keep_last = p.keep_last();
  policy.keep_hourly = p.keep_hourly();
  policy.keep_daily = p.keep_daily();
  policy.keep_weekly = p.keep_weekly();
  policy.keep_monthly = p.keep_monthly();
  policy.keep_yearly = p.keep_yearly();
  if (!p.keep_within().empty()) {
    absl::StatusOr<RetentionDuration> d = ParseRetentionDuration(p.keep_within());
    if (!d.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("policy.keep_within: ", d.status().message()));
    }
    policy.keep_within = *d;
  }
  RETURN_IF_ERROR(ValidateRetentionPolicy(policy));
  return policy;
}

absl::StatusOr<ForgetOutcome> ForgetByPolicy(Repository& repo, const std::string& group,
                                             const RetentionPolicy& policy, bool dry_run,
                                             int64_t now_unix_ns, const LabelSelector& selector) {
  RETURN_IF_ERROR(ValidateRetentionPolicy(policy));
  RETURN_IF_ERROR(CheckLabels(selector, "labels"));
  ASSIGN_OR_RETURN(std::vector<v1::Manifest> list, repo.ListSnapshots(group));
  std::vector<RetentionSnapshot> snapshots;
  snapshots.reserve(list.size());
  for (const v1::Manifest& m : list) {
    snapshots.push_back(
        {m.id(), m.group(), m.time_unix_ns(), LabelSelector(m.labels().begin(), m.labels().end())});
  }
  ForgetOutcome out;
  ASSIGN_OR_RETURN(out.groups, ApplyRetention(std::move(snapshots), policy, now_unix_ns, selector));
  for (const RetentionGroup& g : out.groups) {
    for (const RetentionDecision& d : g.decisions) {
      ++out.total;
      if (d.keep) continue;
      ++out.to_remove;
      if (dry_run || !out.failure.ok()) continue;
      absl::Status st = repo.ForgetSnapshot(d.snapshot.id);
      if (st.ok() || absl::IsNotFound(st)) {  // not found: another forget was first
        out.removed.insert(d.snapshot.id);
      } else {
        out.failure = st;
      }
    }
  }
  return out;
}

}  // namespace arca
