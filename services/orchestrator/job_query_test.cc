// Views, caps, filters, order and page tokens of the job API (job_query.h),
// and the shape of job ids (job_id.h).
#include "services/orchestrator/job_query.h"

#include <set>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "services/orchestrator/job_id.h"

namespace arca::services {
namespace {

using google::protobuf::util::TimeUtil;

v1::Job MakeJob(v1::JobType type, v1::JobState state, int64_t create_s) {
  v1::Job job;
  job.set_id(NewJobId(absl::FromUnixSeconds(create_s)));
  job.set_type(type);
  job.set_state(state);
  job.set_group("node1_data");
  *job.mutable_create_time() = TimeUtil::SecondsToTimestamp(create_s);
  (*job.mutable_labels())["env"] = "prod";
  return job;
}

TEST(JobId, UlidShapeUniqueAndSortedByTime) {
  std::set<std::string> ids;
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewJobId(absl::FromUnixMillis(1764960000000 + i));
    ASSERT_EQ(id.size(), 30u) << id;
    ASSERT_TRUE(IsJobIdShape(id)) << id;
    ASSERT_GT(id, previous) << "ids sort by creation time";
    previous = id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  // The same millisecond: still unique (80 random bits).
  EXPECT_NE(NewJobId(absl::FromUnixMillis(5)), NewJobId(absl::FromUnixMillis(5)));
  EXPECT_TRUE(IsJobIdShape("job-000042"));
  for (const char* bad : {"", "job-", "job-../x", "JOB-1", "task-1", "job-a/b", "job-A1"}) {
    EXPECT_FALSE(IsJobIdShape(bad)) << bad;
  }
}

TEST(JobQuery, BasicViewDropsTheGrowingLists) {
  v1::Job job = MakeJob(v1::JOB_TYPE_VERIFY, v1::JOB_STATE_FAILED, 100);
  job.add_warnings()->set_message("w");
  job.set_warning_count(1);
  job.mutable_verify()->add_problems("p");
  job.mutable_forget()->add_snapshots()->set_id("s");
  v1::Job basic = JobInView(job, v1::JOB_VIEW_BASIC, v1::JOB_VIEW_FULL);
  EXPECT_EQ(basic.warnings_size(), 0);
  EXPECT_EQ(basic.warning_count(), 1u);
  EXPECT_EQ(basic.verify().problems_size(), 0);
  EXPECT_EQ(basic.forget().snapshots_size(), 0);
  EXPECT_EQ(JobInView(job, v1::JOB_VIEW_UNSPECIFIED, v1::JOB_VIEW_FULL).warnings_size(), 1);
  EXPECT_EQ(JobInView(job, v1::JOB_VIEW_UNSPECIFIED, v1::JOB_VIEW_BASIC).warnings_size(), 0);
}

TEST(JobQuery, TrimKeepsTheFirstWithinBudget) {
  v1::Job job;
  for (int i = 0; i < 10000; ++i) {
    v1::Warning* w = job.add_warnings();
    w->set_path("/data/file-" + std::to_string(i));
    w->set_message(std::string(200, 'x'));
    job.mutable_verify()->add_problems(std::string(300, 'p'));
  }
  job.mutable_status()->set_message(std::string(100000, 'm'));
  TrimWarnings(&job, kJobListBudgetBytes);
  TrimJobLists(&job, kJobListBudgetBytes);
  EXPECT_GT(job.warnings_size(), 1000);
  EXPECT_LT(job.warnings_size(), 10000);
  EXPECT_EQ(job.warnings(0).path(), "/data/file-0");
  EXPECT_LT(job.verify().problems_size(), 10000);
  EXPECT_LE(job.status().message().size(), kMaxStatusMessageBytes + 10);
  EXPECT_LT(job.ByteSizeLong(), size_t{3} << 20) << "well under the 4 MiB clients accept";
}

TEST(JobQuery, FilterTerms) {
  v1::Job failed_backup = MakeJob(v1::JOB_TYPE_BACKUP, v1::JOB_STATE_FAILED, 1000);
  v1::Job running_verify = MakeJob(v1::JOB_TYPE_VERIFY, v1::JOB_STATE_RUNNING, 2000);
  running_verify.mutable_labels()->clear();
  running_verify.set_request_id("r-1");
  auto matches = [](const std::string& f, const v1::Job& j) {
    absl::StatusOr<JobFilter> filter = JobFilter::Parse(f);
    EXPECT_TRUE(filter.ok()) << f << ": " << filter.status();
    return filter.ok() && filter->Matches(j);
  };
  EXPECT_TRUE(matches("", failed_backup));
  EXPECT_TRUE(matches("state = FAILED", failed_backup));
  EXPECT_TRUE(matches("state=JOB_STATE_FAILED AND type=backup", failed_backup));
  EXPECT_FALSE(matches("state = FAILED", running_verify));
  EXPECT_TRUE(matches("state != FAILED", running_verify));
  EXPECT_TRUE(matches("type = VERIFY AND request_id = \"r-1\"", running_verify));
  EXPECT_TRUE(matches("group = \"node1_data\"", failed_backup));
  EXPECT_TRUE(matches("labels.env = prod", failed_backup));
  EXPECT_TRUE(matches("labels.env:*", failed_backup));
  EXPECT_FALSE(matches("labels.env:*", running_verify));
  EXPECT_TRUE(matches("labels.env != prod", running_verify));
  EXPECT_TRUE(matches("create_time >= \"1970-01-01T00:16:40Z\"", failed_backup));
  EXPECT_FALSE(matches("create_time > \"1970-01-01T00:16:40Z\"", failed_backup));
  EXPECT_TRUE(matches("create_time > \"1970-01-01T00:16:40Z\"", running_verify));
  EXPECT_FALSE(matches("end_time < \"2100-01-01T00:00:00Z\"", running_verify))
      << "a job that has not ended has no end_time";
  for (const char* bad :
       {"state", "state =", "colour = red", "state = DONE", "state > FAILED", "type = nap",
        "create_time > yesterday", "create_time > \"2026-13-01T00:00:00Z\"",
        "state = FAILED OR state = CANCELLED", "state = FAILED AND", "group = \"open", "labels.x:y",
        "group < a", "state ! FAILED"}) {
    absl::StatusOr<JobFilter> f = JobFilter::Parse(bad);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(f.status().message().find("filter"), std::string::npos) << bad;
  }
}

TEST(JobQuery, OrderBy) {
  EXPECT_FALSE(*ParseJobOrderDescending(""));
  EXPECT_FALSE(*ParseJobOrderDescending("create_time"));
  EXPECT_TRUE(*ParseJobOrderDescending("create_time desc"));
  EXPECT_EQ(ParseJobOrderDescending("id").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JobQuery, PageTokensBelongToTheirRequest) {
  v1::ListJobsRequest request;
  request.set_filter("state = FAILED");
  const std::string token = EncodeJobPageToken({1234, "job-abc"}, request);
  absl::StatusOr<JobPageCursor> c = DecodeJobPageToken(token, request);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->create_unix_ns, 1234);
  EXPECT_EQ(c->id, "job-abc");
  v1::ListJobsRequest other = request;
  other.set_filter("state = RUNNING");
  EXPECT_EQ(DecodeJobPageToken(token, other).status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* bad : {"x", "", "!!!", "ajFafDF8"}) {
    EXPECT_EQ(DecodeJobPageToken(bad, request).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace arca::services
