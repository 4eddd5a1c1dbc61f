// JobManager in-process: validation, the failure → exit code mapping, job
// lifecycle against services that are not there, watchers, cancel.
#include "services/orchestrator/job_manager.h"

#include "gtest/gtest.h"
#include "libs/base/phase_status.h"

namespace arca::services {
namespace {

// Port 1 on loopback: nothing listens, connections are refused at once.
constexpr char kNowhere[] = "127.0.0.1:1";

std::unique_ptr<JobManager> Manager() {
  OrchestratorOptions o;
  o.collectors = {kNowhere};
  o.chunkers = {kNowhere};
  o.compressors = {kNowhere};
  o.uploaders = {kNowhere};
  o.client_tls.insecure = true;
  o.host = "testhost";
  absl::StatusOr<std::unique_ptr<JobManager>> m = JobManager::Create(o);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

v1::Job WaitEnd(JobManager& m, const std::string& id) {
  EXPECT_TRUE(m.WaitIdle(absl::Seconds(30)));
  absl::StatusOr<v1::Job> job = m.GetJob(id);
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : v1::Job();
}

TEST(JobStatusOf, MapsPhasesTransportFailuresAndCancellation) {
  v1::JobStatus ok = JobStatusOf(absl::OkStatus(), v1::PHASE_ARCHIVE, false);
  EXPECT_EQ(ok.exit_code(), 0);
  EXPECT_EQ(ok.grpc_code(), 0);

  v1::JobStatus collection = JobStatusOf(
      WithPhase(absl::UnavailableError("collector gone"), v1::PHASE_COLLECTION), v1::PHASE_ARCHIVE,
      false);
  EXPECT_EQ(collection.failed_phase(), v1::PHASE_COLLECTION);
  EXPECT_EQ(collection.exit_code(), 9);
  EXPECT_EQ(collection.grpc_code(), 14);
  EXPECT_EQ(collection.message(), "collector gone");

  v1::JobStatus dead = JobStatusOf(absl::UnavailableError("connection refused"),
                                   v1::PHASE_ARCHIVE, false);
  EXPECT_EQ(dead.failed_phase(), v1::PHASE_ARCHIVE);
  EXPECT_EQ(dead.exit_code(), 10);
  EXPECT_EQ(JobStatusOf(absl::UnavailableError("x"), v1::PHASE_RESTORE, false).exit_code(), 13);
  // A stage cut by its own shutdown is its failure, not a user cancel.
  EXPECT_EQ(JobStatusOf(absl::CancelledError("x"), v1::PHASE_ARCHIVE, false).exit_code(), 10);
  EXPECT_EQ(JobStatusOf(absl::CancelledError("x"), v1::PHASE_ARCHIVE, true).exit_code(), 130);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::InternalError("x"), v1::PHASE_UPLOAD), v1::PHASE_ARCHIVE,
                        true)
                .exit_code(),
            130);
  EXPECT_EQ(JobStatusOf(absl::DataLossError("bad chunk"), v1::PHASE_RESTORE, false).exit_code(), 8);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::NotFoundError("no snapshot"), v1::PHASE_SETUP),
                        v1::PHASE_ARCHIVE, false)
                .exit_code(),
            2);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::FailedPreconditionError("locked"), v1::PHASE_SETUP),
                        v1::PHASE_ARCHIVE, false)
                .exit_code(),
            4);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::ResourceExhaustedError("full"), v1::PHASE_SETUP),
                        v1::PHASE_ARCHIVE, false)
                .exit_code(),
            5);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::ResourceExhaustedError("disk"), v1::PHASE_COMMIT),
                        v1::PHASE_ARCHIVE, false)
                .exit_code(),
            12);
}

TEST(JobManager, RejectsBadRequestsBeforeCreatingAJob) {
  auto m = Manager();
  ASSERT_NE(m, nullptr);
  struct Case {
    v1::StartBackupRequest request;
    std::string fragment;
  };
  std::vector<Case> cases;
  cases.push_back({v1::StartBackupRequest(), "source is empty"});
  v1::StartBackupRequest r;
  r.set_source("relative/dir");
  cases.push_back({r, "is not absolute"});
  r.set_source("/data");
  r.set_level(-1);
  cases.push_back({r, "level -1 is negative"});
  r.set_level(99);
  cases.push_back({r, "level"});
  r.set_level(0);
  r.set_codec(static_cast<v1::Codec>(77));
  cases.push_back({r, "codec 77 is unknown"});
  r.set_codec(v1::CODEC_ZSTD);
  r.set_space_safety_factor(0.5);
  cases.push_back({r, "space_safety_factor"});
  r.set_space_safety_factor(0);
  r.add_excludes("[");
  cases.push_back({r, "excludes"});
  r.clear_excludes();
  r.set_group("g");
  cases.push_back({r, "group is not supported"});
  r.clear_group();
  v1::Command* c = r.add_commands();
  c->set_name("bad name");
  c->set_command_line("true");
  cases.push_back({r, "commands"});
  r.set_source(std::string(5000, '/'));
  cases.push_back({r, "bytes long"});
  for (const Case& k : cases) {
    absl::StatusOr<v1::Job> job = m->StartBackup(k.request);
    ASSERT_FALSE(job.ok()) << k.request.ShortDebugString();
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << job.status();
    EXPECT_NE(job.status().message().find(k.fragment), std::string::npos) << job.status();
  }
  v1::StartRestoreRequest restore;
  restore.set_target("/t");
  EXPECT_EQ(m->StartRestore(restore).status().code(), absl::StatusCode::kInvalidArgument);
  restore.set_snapshot("latest");
  restore.set_target("t");
  EXPECT_EQ(m->StartRestore(restore).status().code(), absl::StatusCode::kInvalidArgument);
  v1::StartVerifyRequest verify;
  verify.set_workers(-3);
  absl::StatusOr<v1::Job> v = m->StartVerify(verify);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("workers -3"), std::string::npos) << v.status();
  EXPECT_TRUE(m->ListJobs().empty());

  EXPECT_EQ(m->GetJob("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->GetJob("job-999").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->CancelJob("job-999").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->Watch("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobManager, MissingServiceKindIsFailedPrecondition) {
  OrchestratorOptions o;
  o.uploaders = {kNowhere};
  o.client_tls.insecure = true;
  auto m = JobManager::Create(o);
  ASSERT_TRUE(m.ok());
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> job = (*m)->StartBackup(r);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(job.status().message().find("--chunker"), std::string::npos) << job.status();
}

TEST(JobManager, UnreachableChunkerFailsTheBackupInPhaseArchive) {
  auto m = Manager();
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> started = m->StartBackup(r);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->type(), v1::JOB_TYPE_BACKUP);
  absl::StatusOr<std::unique_ptr<JobWatch>> watch = m->Watch(started->id());
  ASSERT_TRUE(watch.ok());
  v1::Job job = WaitEnd(*m, started->id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().failed_phase(), v1::PHASE_ARCHIVE);
  EXPECT_EQ(job.status().exit_code(), 10);
  EXPECT_EQ(job.status().grpc_code(), 14);
  EXPECT_NE(job.status().message().find("chunker 127.0.0.1:1"), std::string::npos)
      << job.status().message();
  EXPECT_GT(job.end_unix_ns(), 0);
  // The watcher that joined early gets the final job last.
  std::optional<v1::JobEvent> e;
  v1::Job final_job;
  while ((e = (*watch)->Next(absl::Seconds(5)))) {
    if (e->has_final()) final_job = e->final();
  }
  EXPECT_TRUE((*watch)->finished());
  EXPECT_EQ(final_job.status().exit_code(), 10);
  // A late watcher gets only the final job.
  absl::StatusOr<std::unique_ptr<JobWatch>> late = m->Watch(started->id());
  ASSERT_TRUE(late.ok());
  e = (*late)->Next(absl::Seconds(1));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->has_final());
  EXPECT_EQ(m->CancelJob(started->id()).status().code(), absl::StatusCode::kFailedPrecondition);

  v1::StartVerifyRequest v;
  absl::StatusOr<v1::Job> verify = m->StartVerify(v);
  ASSERT_TRUE(verify.ok());
  job = WaitEnd(*m, verify->id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().failed_phase(), v1::PHASE_UPLOAD);
  EXPECT_EQ(job.status().exit_code(), 12);
  ASSERT_EQ(m->ListJobs().size(), 2u);
  EXPECT_EQ(m->ListJobs()[0].id(), started->id());
}

}  // namespace
}  // namespace arca::services
