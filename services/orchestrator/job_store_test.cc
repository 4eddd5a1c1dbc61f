// JobStore on a real directory: jobs written and read back, interrupted jobs,
// corrupt and newer-format files, stale temp files, an unwritable directory.
#include "services/orchestrator/job_store.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace arca::services {
namespace {

namespace stdfs = std::filesystem;

std::string NewDir(const std::string& name) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  stdfs::remove_all(dir);
  return dir;
}

v1::Job MakeJob(int n, v1::JobState state) {
  v1::Job job;
  job.set_id(absl::StrCat("job-", std::string(6 - std::to_string(n).size(), '0'), n));
  job.set_type(v1::JOB_TYPE_BACKUP);
  job.set_state(state);
  job.set_group("h_data");
  job.set_start_unix_ns(1700000000000000000 + n);
  if (state == v1::JOB_STATE_SUCCEEDED) {
    job.set_snapshot("h_data/20240101T000000.000000000Z");
    job.set_end_unix_ns(1700000001000000000 + n);
    job.mutable_stats()->set_files(42);
  }
  return job;
}

TEST(JobStore, JobsRoundTripInIdOrder) {
  const std::string dir = NewDir("roundtrip");
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int n : {10, 2, 7}) ASSERT_TRUE((*store)->Save(MakeJob(n, v1::JOB_STATE_SUCCEEDED)).ok());
  JobStore::Loaded loaded = (*store)->Load(0);
  ASSERT_EQ(loaded.jobs.size(), 3u);
  EXPECT_TRUE(loaded.notes.empty());
  EXPECT_EQ(loaded.jobs[0].id(), "job-000002");
  EXPECT_EQ(loaded.jobs[1].id(), "job-000007");
  EXPECT_EQ(loaded.jobs[2].id(), "job-000010");
  EXPECT_EQ(loaded.jobs[2].SerializeAsString(),
            MakeJob(10, v1::JOB_STATE_SUCCEEDED).SerializeAsString());
  ASSERT_TRUE((*store)->Remove("job-000007").ok());
  ASSERT_TRUE((*store)->Remove("job-000007").ok());  // already gone: fine
  EXPECT_EQ((*store)->Load(0).jobs.size(), 2u);
}

TEST(JobStore, AJobThatHadNotEndedIsRecordedAsInterrupted) {
  const std::string dir = NewDir("interrupted");
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Save(MakeJob(3, v1::JOB_STATE_RUNNING)).ok());
  JobStore::Loaded loaded = (*store)->Load(1800000000000000000);
  ASSERT_EQ(loaded.jobs.size(), 1u);
  const v1::Job& job = loaded.jobs[0];
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().exit_code(), v1::EXIT_CODE_INTERNAL);
  EXPECT_EQ(job.status().grpc_code(), 14);
  EXPECT_NE(job.status().message().find("interrupted"), std::string::npos);
  EXPECT_EQ(job.end_unix_ns(), 1800000000000000000);
  ASSERT_EQ(loaded.notes.size(), 1u);
  // Rewritten: the next load reads the failed job as it is, without a note.
  JobStore::Loaded again = (*store)->Load(1900000000000000000);
  ASSERT_EQ(again.jobs.size(), 1u);
  EXPECT_EQ(again.jobs[0].end_unix_ns(), 1800000000000000000);
  EXPECT_TRUE(again.notes.empty());
}

TEST(JobStore, CorruptNewerAndForeignFilesAreSkipped) {
  const std::string dir = NewDir("skipped");
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Save(MakeJob(1, v1::JOB_STATE_SUCCEEDED)).ok());
  const std::string jobs = dir + "/jobs";
  std::ofstream(jobs + "/job-000002.json") << "{ not json";
  std::ofstream(jobs + "/job-000003.json")
      << R"({"format_version": 3, "job": {"id": "job-000003"}})";
  std::ofstream(jobs + "/job-000004.json")
      << R"({"format_version": 1, "job": {"id": "job-000009"}})";
  std::ofstream(jobs + "/notes.txt") << "operator's file";
  std::ofstream(jobs + "/.tmp-job-000005.json.123") << "half";
  JobStore::Loaded loaded = (*store)->Load(0);
  ASSERT_EQ(loaded.jobs.size(), 1u);
  EXPECT_EQ(loaded.jobs[0].id(), "job-000001");
  EXPECT_EQ(loaded.notes.size(), 3u);
  EXPECT_TRUE(stdfs::exists(jobs + "/job-000002.json.corrupt"));
  EXPECT_FALSE(stdfs::exists(jobs + "/job-000002.json"));
  EXPECT_TRUE(stdfs::exists(jobs + "/job-000003.json")) << "a newer format is left alone";
  EXPECT_TRUE(stdfs::exists(jobs + "/job-000004.json.corrupt")) << "id and name disagree";
  EXPECT_TRUE(stdfs::exists(jobs + "/notes.txt"));
  EXPECT_FALSE(stdfs::exists(jobs + "/.tmp-job-000005.json.123"));
}

TEST(JobStore, UnusableDirectoryIsRefusedWithItsName) {
  const std::string file = NewDir("plain-file");
  std::ofstream(file) << "x";
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(file), std::string::npos) << store.status();
}

TEST(JobStore, ReadGivesTheFullRecord) {
  const std::string dir = NewDir("read");
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok());
  v1::Job job;
  job.set_id("job-01jx0000000000000000000000");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  job.set_warning_count(2);
  job.add_warnings()->set_message("one");
  job.add_warnings()->set_message("two");
  ASSERT_TRUE((*store)->Save(job).ok());
  absl::StatusOr<v1::Job> read = (*store)->Read(job.id());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->warnings_size(), 2);
  EXPECT_EQ((*store)->Read("job-unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Read("../etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca::services
