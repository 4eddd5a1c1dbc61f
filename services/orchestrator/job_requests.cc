#include "services/orchestrator/job_requests.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

absl::Status ValidateBackupRequest(const v1::StartBackupRequest& r) {
  if (absl::Status st =
          CheckPath("source", r.source(), "the absolute path of the tree on the collector's node");
      !st.ok()) {
    return st;
  }
  std::vector<std::string> excludes(r.excludes().begin(), r.excludes().end());
  if (absl::Status st = CheckPatterns("excludes", excludes); !st.ok()) return st;
  const int codec = static_cast<int>(r.codec());
  if (codec != v1::CODEC_UNSPECIFIED && codec != v1::CODEC_NONE && codec != v1::CODEC_ZSTD &&
      codec != v1::CODEC_XZ) {
    return Bad(absl::StrCat("codec ", codec,
                            " is unknown: use zstd, xz, none or unspecified "
                            "(the repository's default)"));
  }
  if (r.level() < 0) {
    return Bad(absl::StrCat("level ", r.level(),
                            " is negative: use 0 (the codec's default) or a "
                            "level the codec takes"));
  }
  if (r.level() != 0) {
    // Without a codec the repository's default codec applies; zstd's range
    // (1..22) is the widest, the chunker checks the final choice.
    const Codec c = codec == v1::CODEC_UNSPECIFIED ? Codec::kZstd : static_cast<Codec>(codec);
    if (absl::Status st = ValidateLevel(c, r.level()); !st.ok()) {
      return Bad(absl::StrCat("level: ", st.message()));
    }
  }
  if (r.space_safety_factor() != 0 &&
      !(r.space_safety_factor() >= 1.0 && r.space_safety_factor() <= 100)) {
    return Bad(absl::StrCat("space_safety_factor ", r.space_safety_factor(),
                            " must be 0 (default) or between 1 and 100"));
  }
  if (!r.group().empty()) {
    return Bad(
        "group is not supported in distributed mode: the snapshot group is derived from "
        "host and source (set host instead)");
  }
  if (r.change_detection_data() && !r.parent().empty()) {
    return Bad("parent needs metadata change detection: drop change_detection_data or parent");
  }
  if (r.parent().size() > kMaxRequestPathBytes) return Bad("parent is too long");
  if (r.host().size() > 255) return Bad("host is longer than 255 bytes");
  if (r.commands_size() > 100) return Bad("more than 100 commands");
  absl::flat_hash_set<std::string> names;
  for (const v1::Command& c : r.commands()) {
    // Names only: the collector takes the command line from its
    // --commands-file (and refuses a request that carries one).
    if (absl::Status st = ValidateCommandName(c.name()); !st.ok()) {
      return Bad(absl::StrCat("commands: ", st.message()));
    }
    if (!names.insert(c.name()).second) {
      return Bad(absl::StrCat("commands: the name '", c.name(), "' is used twice"));
    }
  }
  return absl::OkStatus();
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
  return CheckPatterns("includes", includes);
}

absl::Status ValidateVerifyRequest(const v1::StartVerifyRequest& r) {
  if (r.snapshot().size() > kMaxRequestPathBytes) return Bad("snapshot is too long");
  if (r.workers() < 0 || r.workers() > kMaxWorkers) {
    return Bad(absl::StrCat("workers ", r.workers(), " is out of range: use 0..", kMaxWorkers,
                            " (0 = the uploader's cores)"));
  }
  return absl::OkStatus();
}

}  // namespace arca::services
