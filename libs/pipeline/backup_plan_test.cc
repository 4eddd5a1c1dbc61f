#include "libs/pipeline/backup_plan.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "libs/base/phase_status.h"

namespace arca {
namespace {

v1::BackupPlan Plan() {
  v1::BackupPlan plan;
  plan.set_source("/data");
  plan.set_host("h");
  plan.set_metadata_change_detection(true);
  return plan;
}

TEST(BackupPlanTest, LabelsAreCheckedAndNamedAsTheCallerKnowsThem) {
  v1::BackupPlan plan = Plan();
  (*plan.mutable_labels())["env"] = "prod";
  (*plan.mutable_labels())["example.com/team"] = "";
  EXPECT_TRUE(CheckBackupPlan(plan).ok());

  (*plan.mutable_labels())["bad key"] = "x";
  for (auto [names, field] : {std::pair{PlanFieldNames::kFlags, "--label"},
                              std::pair{PlanFieldNames::kPlan, "plan.labels"},
                              std::pair{PlanFieldNames::kRequest, "labels"}}) {
    absl::Status st = CheckBackupPlan(plan, names);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_EQ(st.message().substr(0, std::string(field).size() + 1), std::string(field) + ":")
        << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_SETUP);
  }
  plan = Plan();
  (*plan.mutable_labels())["env"] = "-prod";
  EXPECT_EQ(CheckBackupPlan(plan).code(), absl::StatusCode::kInvalidArgument);
  plan = Plan();
  for (int i = 0; i < 65; ++i) (*plan.mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_EQ(CheckDistributedBackupPlan(plan).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
