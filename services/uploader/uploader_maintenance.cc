#include "services/uploader/uploader_maintenance.h"

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/store/forget.h"
#include "libs/store/gc.h"

namespace arca::services {

absl::StatusOr<v1::ForgetResponse> ForgetSnapshots(Repository& repo,
                                                   const v1::ForgetRequest& request,
                                                   int64_t now_unix_ns) {
  ASSIGN_OR_RETURN(RetentionPolicy policy, PolicyFromProto(request.policy()));
  // The labels come from the network: ForgetByPolicy checks their syntax.
  const LabelSelector selector(request.labels().begin(), request.labels().end());
  ASSIGN_OR_RETURN(ForgetOutcome outcome, ForgetByPolicy(repo, request.group(), policy,
                                                         request.dry_run(), now_unix_ns, selector));
  RETURN_IF_ERROR(outcome.failure);
  v1::ForgetResponse response;
  response.set_policy(DescribeRetentionPolicy(policy) + DescribeLabelSelector(selector));
  response.set_dry_run(request.dry_run());
  for (const RetentionGroup& g : outcome.groups) {
    for (const RetentionDecision& d : g.decisions) {
      v1::ForgetDecision* out = response.add_snapshots();
      out->set_id(d.snapshot.id);
      out->set_group(g.group);
      out->set_time_unix_ns(d.snapshot.time_unix_ns);
      out->set_kept(d.keep);
      out->set_removed(outcome.removed.count(d.snapshot.id) > 0);
      for (const KeepReason& r : d.reasons) out->add_reasons(KeepReasonText(r, policy));
    }
  }
  response.set_kept(outcome.total - outcome.to_remove);
  response.set_to_remove(outcome.to_remove);
  response.set_removed(outcome.removed.size());
  return response;
}

absl::StatusOr<v1::GcResponse> CollectGarbage(Repository& repo, const v1::GcRequest& request) {
  const int minutes = request.stale_lock_minutes();
  if (minutes != 0 && (minutes < 2 || minutes > 100000)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stale_lock_minutes ", minutes, " is out of range: use 0 (the default) or 2..100000"));
  }
  const int slack = request.clock_slack_seconds();
  if (slack != 0 && (slack < 1 || slack > 86400)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "clock_slack_seconds ", slack, " is out of range: use 0 (the default) or 1..86400"));
  }
  GcOptions options;
  options.dry_run = request.dry_run();
  if (minutes != 0) options.stale_lock_ns = int64_t{minutes} * 60 * 1000000000;
  if (slack != 0) options.clock_slack_ns = int64_t{slack} * 1000000000;
  ASSIGN_OR_RETURN(GcStats s, RunGc(repo, options));
  v1::GcResponse r;
  r.set_snapshots(s.snapshots);
  r.set_chunks_marked(s.chunks_marked);
  r.set_chunks_kept(s.chunks_kept);
  r.set_bytes_kept(s.bytes_kept);
  r.set_chunks_removed(s.chunks_removed);
  r.set_bytes_removed(s.bytes_removed);
  r.set_chunks_missing(s.chunks_missing);
  r.set_temp_files_removed(s.temp_files_removed);
  for (const std::string& l : s.stale_locks_removed) r.add_stale_locks_removed(l);
  for (const std::string& o : s.orphans_removed) r.add_orphans_removed(o);
  r.set_duration_seconds(s.seconds);
  r.set_dry_run(request.dry_run());
  return r;
}

}  // namespace arca::services
