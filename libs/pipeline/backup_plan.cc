#include "libs/pipeline/backup_plan.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/space_check.h"

namespace arca {
namespace {

absl::Status Bad(const std::string& message) {
  return WithPhase(absl::InvalidArgumentError(message), v1::PHASE_SETUP);
}

}  // namespace

absl::Status CheckBackupPlan(const v1::BackupPlan& plan) {
  if (plan.source().empty() || plan.source()[0] != '/') {
    return Bad(absl::StrCat("source '", plan.source(), "' must be an absolute path"));
  }
  if (plan.host().empty()) {
    return Bad(
        "host is empty: set the host name of the source's node (it names the snapshot "
        "group)");
  }
  const int codec = static_cast<int>(plan.codec());
  if (codec != v1::CODEC_UNSPECIFIED && codec != v1::CODEC_NONE && codec != v1::CODEC_ZSTD &&
      codec != v1::CODEC_XZ) {
    return Bad(absl::StrCat("codec ", codec, " is unknown: use zstd, xz or none"));
  }
  if (plan.level() < 0 || plan.level() > 22) {
    return Bad(absl::StrCat("compression level ", plan.level(), " is out of range"));
  }
  if (plan.codec() != v1::CODEC_UNSPECIFIED && plan.level() != 0) {
    if (absl::Status st = ValidateLevel(static_cast<Codec>(plan.codec()), plan.level()); !st.ok()) {
      return Bad(std::string(st.message()));
    }
  }
  if (plan.space_safety_factor() != 0) {
    // NaN and infinities included.
    if (absl::Status st =
            ValidateSpaceSafetyFactor(plan.space_safety_factor(), "--space-safety-factor");
        !st.ok()) {
      return Bad(
          absl::StrCat(st.message(), " (or 0 for the default ", kDefaultSpaceSafetyFactor, ")"));
    }
  }
  std::vector<std::string> excludes(plan.excludes().begin(), plan.excludes().end());
  if (absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(excludes); !m.ok()) {
    return Bad(std::string(m.status().message()));
  }
  absl::flat_hash_set<std::string> names;
  for (const v1::Command& c : plan.commands()) {
    if (absl::Status st = ValidateCommandName(c.name()); !st.ok()) {
      return Bad(std::string(st.message()));
    }
    if (!names.insert(c.name()).second) {
      return Bad(absl::StrCat("command name '", c.name(), "' is used twice"));
    }
  }
  if (!plan.metadata_change_detection() && !plan.parent().empty()) {
    return Bad(absl::StrCat("parent ", plan.parent(),
                            " given with change detection off: a parent needs "
                            "--change-detection=metadata"));
  }
  return absl::OkStatus();
}

absl::Status CheckDistributedBackupPlan(const v1::BackupPlan& plan) {
  if (absl::Status st = CheckBackupPlan(plan); !st.ok()) return st;
  if (plan.collector().empty()) return Bad("plan.collector is empty: give a collector address");
  if (plan.compressors().empty()) {
    return Bad("plan.compressors is empty: give at least one compressor address");
  }
  if (plan.uploaders().empty()) {
    return Bad("plan.uploaders is empty: give at least one uploader address");
  }
  for (const auto* list : {&plan.compressors(), &plan.uploaders()}) {
    for (const std::string& a : *list) {
      if (a.empty()) return Bad("an empty compressor or uploader address in the plan");
    }
  }
  for (const v1::Command& c : plan.commands()) {
    if (!c.command_line().empty()) {
      return Bad(absl::StrCat("command '", c.name(),
                              "' carries a command line: the distributed plan names commands "
                              "only (the collector runs those of its --commands-file)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CodecChoice> ChooseCodec(const v1::BackupPlan& plan,
                                        const v1::RepositoryConfig& config) {
  CodecChoice c;
  if (plan.codec() == v1::CODEC_UNSPECIFIED) {
    const bool repo_default = config.default_codec() != v1::CODEC_UNSPECIFIED;
    c.codec = repo_default ? config.default_codec() : v1::CODEC_ZSTD;
    c.level = plan.level() != 0 ? plan.level()
              : repo_default    ? config.default_level()
                                : DefaultLevel(Codec::kZstd);
  } else {
    c.codec = plan.codec();
    c.level = plan.level() != 0 ? plan.level() : DefaultLevel(static_cast<Codec>(c.codec));
  }
  if (absl::Status st = ValidateLevel(static_cast<Codec>(c.codec), c.level); !st.ok()) {
    return Bad(absl::StrCat("compression level: ", st.message()));
  }
  return c;
}

double SpaceSafetyFactor(const v1::BackupPlan& plan) {
  return plan.space_safety_factor() == 0 ? kDefaultSpaceSafetyFactor : plan.space_safety_factor();
}

}  // namespace arca
