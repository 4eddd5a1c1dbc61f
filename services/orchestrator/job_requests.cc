#include "services/orchestrator/job_requests.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/base/labels.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/commands.h"

namespace arca::services {
namespace {

constexpr size_t kMaxListItems = 10000;
constexpr int kMaxWorkers = 256;

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status CheckPath(const char* field, const std::string& path, const char* what) {
  if (path.empty()) return Bad(absl::StrCat(field, " is empty: give ", what));
  if (path.size() > kMaxRequestPathBytes) {
    return Bad(
        absl::StrCat(field, " is ", path.size(), " bytes long: at most ", kMaxRequestPathBytes));
  }
  if (path[0] != '/') {
    return Bad(absl::StrCat(field, " '", path, "' is not absolute: give ", what));
  }
  if (path.find('\0') != std::string::npos) return Bad(absl::StrCat(field, " contains a NUL byte"));
  return absl::OkStatus();
}

absl::Status CheckPatterns(const char* field, const std::vector<std::string>& patterns) {
  if (patterns.size() > kMaxListItems) {
    return Bad(absl::StrCat(field, ": ", patterns.size(), " patterns, at most ", kMaxListItems));
  }
  absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(patterns);
  if (!m.ok()) return Bad(absl::StrCat(field, ": ", m.status().message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.empty()) return absl::OkStatus();
  const bool ok =
      request_id.size() <= 64 && std::all_of(request_id.begin(), request_id.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
               c == '.' || c == ':';
      });
  if (ok) return absl::OkStatus();
  return Bad(
      "request_id: at most 64 characters of [A-Za-z0-9_.:-] (a UUID fits), or empty for a "
      "request that is never retried");
}

absl::Status ValidateBackupRequest(const v1::StartBackupRequest& r) {
  // What only a request can get wrong (sizes, NUL bytes, fields the plan
  // has not); the plan built from it is checked by CheckBackupPlan
  // (libs/pipeline/backup_plan.h), like every other backup plan.
  if (absl::Status st =
          CheckPath("source", r.source(), "the absolute path of the tree on the collector's node");
      !st.ok()) {
    return st;
  }
  if (r.excludes_size() > static_cast<int>(kMaxListItems)) {
    return Bad(absl::StrCat("excludes: ", r.excludes_size(), " patterns, at most ", kMaxListItems));
  }
  if (!r.group().empty()) {
    return Bad(
        "group is not supported in distributed mode: the snapshot group is derived from "
        "host and source (set host instead)");
  }
  if (r.parent().size() > kMaxRequestPathBytes) return Bad("parent is too long");
  if (r.host().size() > 255) return Bad("host is longer than 255 bytes");
  if (r.commands_size() > 100) return Bad("more than 100 commands");
  if (absl::Status st = CheckLabels(r.labels(), "labels"); !st.ok()) return st;
  return ValidateRequestId(r.request_id());
}

absl::Status ValidateRestoreRequest(const v1::StartRestoreRequest& r) {
  if (r.snapshot().empty()) {
    return Bad("snapshot is empty: give a snapshot id (see ListSnapshots) or \"latest\"");
  }
  if (r.snapshot().size() > kMaxRequestPathBytes) return Bad("snapshot is too long");
  if (absl::Status st = CheckPath("target", r.target(),
                                  "the absolute path of the directory on the collector's node");
      !st.ok()) {
    return st;
  }
  std::vector<std::string> includes(r.includes().begin(), r.includes().end());
  if (absl::Status st = CheckPatterns("includes", includes); !st.ok()) return st;
  if (!v1::Overwrite_IsValid(r.overwrite())) {
    return Bad(absl::StrCat("overwrite ", r.overwrite(),
                            " is not a known policy: use OVERWRITE_ALWAYS, OVERWRITE_IF_CHANGED "
                            "or OVERWRITE_NEVER"));
  }
  if (r.delete_extraneous() && r.target() == "/") {
    return Bad(
        "delete_extraneous with target \"/\" would remove everything the snapshot does not "
        "have from the collector's root; restore into another directory, or without delete");
  }
  return ValidateRequestId(r.request_id());
}

absl::Status ValidateVerifyRequest(const v1::StartVerifyRequest& r) {
  if (r.snapshot().size() > kMaxRequestPathBytes) return Bad("snapshot is too long");
  if (r.workers() < 0 || r.workers() > kMaxWorkers) {
    return Bad(absl::StrCat("workers ", r.workers(), " is out of range: use 0..", kMaxWorkers,
                            " (0 = the uploader's cores)"));
  }
  return ValidateRequestId(r.request_id());
}

absl::Status ValidateForgetRequest(const v1::StartForgetRequest& r) {
  if (r.group().size() > kMaxRequestPathBytes) return Bad("group is too long");
  if (r.dry_run() && r.prune()) {
    return Bad("prune with dry_run: a dry run removes nothing, so there is nothing to prune");
  }
  const int slack = r.clock_slack_seconds();
  if (slack != 0 && (slack < 1 || slack > 86400)) {
    return Bad(absl::StrCat("clock_slack_seconds ", slack,
                            " is out of range: use 0 (the default) or 1..86400"));
  }
  if (absl::Status st = CheckLabels(r.labels(), "labels"); !st.ok()) return st;
  // The policy itself is checked by the uploader's rules (PolicyFromProto)
  // before the job is created: see JobManager::StartForget.
  return ValidateRequestId(r.request_id());
}

absl::Status ValidateGcRequest(const v1::StartGcRequest& r) {
  const int m = r.stale_lock_minutes();
  if (m != 0 && (m < 2 || m > 100000)) {
    return Bad(absl::StrCat("stale_lock_minutes ", m,
                            " is out of range: use 0 (the default) or 2..100000"));
  }
  const int slack = r.clock_slack_seconds();
  if (slack != 0 && (slack < 1 || slack > 86400)) {
    return Bad(absl::StrCat("clock_slack_seconds ", slack,
                            " is out of range: use 0 (the default) or 1..86400"));
  }
  return ValidateRequestId(r.request_id());
}

}  // namespace arca::services
