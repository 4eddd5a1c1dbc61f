// The plan of one backup, whichever mode runs it: v1::BackupPlan
// (protos/arca/v1/chunker.proto) is the one plan type. The embedded CLI
// builds it from flags (BackupOptions::ToPlan), the orchestrator from a
// StartBackupRequest, the chunker receives it; every one of them checks it
// here, and the backup job (backup_job.h) checks it again before it starts.
#ifndef ARCA_LIBS_PIPELINE_BACKUP_PLAN_H_
#define ARCA_LIBS_PIPELINE_BACKUP_PLAN_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/repository.pb.h"

namespace arca {

// What the plan says about the data, checked: source an absolute path,
// host set (it names the group), codec known, level in 0..22, space_safety_factor 0 (the default)
// or in 1..100, exclude patterns valid, command names valid and unique, labels valid
// (libs/base/labels.h). Not the addresses of the
// distributed plan (CheckDistributedBackupPlan). INVALID_ARGUMENT with PHASE_SETUP (exit 2), the
// message naming the field.
//
// `names` picks how messages name a field: the CLI's flags ("--level"), the
// plan's fields ("plan.level": the chunker's RunBackup) or the job API's
// request fields ("level": the orchestrator's StartBackup).
enum class PlanFieldNames { kFlags, kPlan, kRequest };
absl::Status CheckBackupPlan(const v1::BackupPlan& plan,
                             PlanFieldNames names = PlanFieldNames::kFlags);

// CheckBackupPlan plus what the distributed pipeline needs: the collector, at least one compressor
// and one uploader, commands by name only (the collector's --commands-file holds the command
// lines).
absl::Status CheckDistributedBackupPlan(const v1::BackupPlan& plan);

// The codec and level a backup uses: the plan's, else the repository's
// default (zstd when the repository has none). INVALID_ARGUMENT with
// PHASE_SETUP when the level does not fit the codec.
struct CodecChoice {
  v1::Codec codec = v1::CODEC_ZSTD;
  int level = 3;
};
absl::StatusOr<CodecChoice> ChooseCodec(const v1::BackupPlan& plan,
                                        const v1::RepositoryConfig& config);

// The space safety factor the plan asks for (0 = kDefaultSpaceSafetyFactor).
double SpaceSafetyFactor(const v1::BackupPlan& plan);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_BACKUP_PLAN_H_
