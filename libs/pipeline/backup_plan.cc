#include "libs/pipeline/backup_plan.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/base/labels.h"
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

absl::Status CheckBackupPlan(const v1::BackupPlan& plan, PlanFieldNames names) {
  // How a message names a field: the CLI's flag, plan.NAME or NAME.
  auto field = [names](const char* flag, const char* name) {
    switch (names) {
      case PlanFieldNames::kFlags:
        return std::string(flag);
      case PlanFieldNames::kPlan:
        return absl::StrCat("plan.", name);
      case PlanFieldNames::kRequest:
        break;
    }
    return std::string(name);
  };
  if (plan.source().empty() || plan.source()[0] != '/') {
    return Bad(absl::StrCat(field("source", "source"), " '", plan.source(),
                            "' must be an absolute path",
                            names == PlanFieldNames::kFlags ? "" : " on the collector's node"));
  }
  if (plan.host().empty()) {
    return Bad(absl::StrCat(field("--host", "host"),
                            " is empty: set the host name of the source's node (it names the "
                            "snapshot group)"));
  }
  const int codec = static_cast<int>(plan.codec());
  if (codec != v1::CODEC_UNSPECIFIED && codec != v1::CODEC_NONE && codec != v1::CODEC_ZSTD &&
      codec != v1::CODEC_XZ) {
    return Bad(absl::StrCat(field("--compression", "codec"), " ", codec,
                            " is unknown: use zstd, xz or none"));
  }
  if (plan.level() < 0 || plan.level() > 22) {
    return Bad(absl::StrCat(field("--level", "level"), " ", plan.level(),
                            plan.level() < 0 ? " is negative" : " is out of range",
                            ": use 0 (the codec's default) or a level the codec takes"));
  }
  if (plan.codec() != v1::CODEC_UNSPECIFIED && plan.level() != 0) {
    if (absl::Status st = ValidateLevel(static_cast<Codec>(plan.codec()), plan.level()); !st.ok()) {
      return Bad(absl::StrCat(field("--level", "level"), ": ", st.message()));
    }
  }
  if (plan.space_safety_factor() != 0) {
    // NaN and infinities included.
    if (absl::Status st = ValidateSpaceSafetyFactor(
            plan.space_safety_factor(), field("--space-safety-factor", "space_safety_factor"));
        !st.ok()) {
      return Bad(
          absl::StrCat(st.message(), " (or 0 for the default ", kDefaultSpaceSafetyFactor, ")"));
    }
  }
  std::vector<std::string> excludes(plan.excludes().begin(), plan.excludes().end());
  if (absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(excludes); !m.ok()) {
    return Bad(absl::StrCat(field("--exclude", "excludes"), ": ", m.status().message()));
  }
  absl::flat_hash_set<std::string> command_names;
  for (const v1::Command& c : plan.commands()) {
    if (absl::Status st = ValidateCommandName(c.name()); !st.ok()) {
      return Bad(absl::StrCat(field("--command", "commands"), ": ", st.message()));
    }
    if (!command_names.insert(c.name()).second) {
      return Bad(absl::StrCat(field("--command", "commands"), ": the name '", c.name(),
                              "' is used twice"));
    }
  }
  if (absl::Status st = CheckLabels(plan.labels(), field("--label", "labels")); !st.ok()) {
    return Bad(std::string(st.message()));
  }
  if (!plan.metadata_change_detection() && !plan.parent().empty()) {
    return Bad(absl::StrCat(field("--parent", "parent"), " ", plan.parent(),
                            " given with change detection off: a parent needs metadata "
                            "change detection"));
  }
  return absl::OkStatus();
}

absl::Status CheckDistributedBackupPlan(const v1::BackupPlan& plan) {
  if (absl::Status st = CheckBackupPlan(plan, PlanFieldNames::kPlan); !st.ok()) return st;
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
