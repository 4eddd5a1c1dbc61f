// JobManager in-process: validation, the failure → exit code mapping, job
// lifecycle against services that are not there, watchers, cancel.
#include "services/orchestrator/job_manager.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <thread>

#include "absl/synchronization/notification.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/rpc/status_convert.h"
#include "prometheus/registry.h"

namespace arca::services {
namespace {

// Every job kept, oldest first, in full.
std::vector<v1::Job> All(const JobManager& m) {
  v1::ListJobsRequest request;
  request.set_page_size(500);
  request.set_view(v1::JOB_VIEW_FULL);
  absl::StatusOr<v1::ListJobsResponse> page = m.ListJobs(request);
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  EXPECT_TRUE(page->next_page_token().empty());
  return {page->jobs().begin(), page->jobs().end()};
}

using metrics::testing::MetricValue;

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

  v1::JobStatus collection =
      JobStatusOf(WithPhase(absl::UnavailableError("collector gone"), v1::PHASE_COLLECTION),
                  v1::PHASE_ARCHIVE, false);
  EXPECT_EQ(collection.failed_phase(), v1::PHASE_COLLECTION);
  EXPECT_EQ(collection.exit_code(), 9);
  EXPECT_EQ(collection.grpc_code(), 14);
  EXPECT_EQ(collection.message(), "collector gone");

  v1::JobStatus dead =
      JobStatusOf(absl::UnavailableError("connection refused"), v1::PHASE_ARCHIVE, false);
  EXPECT_EQ(dead.failed_phase(), v1::PHASE_ARCHIVE);
  EXPECT_EQ(dead.exit_code(), 10);
  EXPECT_EQ(JobStatusOf(absl::UnavailableError("x"), v1::PHASE_RESTORE, false).exit_code(), 13);
  // A stage cut by its own shutdown is its failure, not a user cancel.
  EXPECT_EQ(JobStatusOf(absl::CancelledError("x"), v1::PHASE_ARCHIVE, false).exit_code(), 10);
  EXPECT_EQ(JobStatusOf(absl::CancelledError("x"), v1::PHASE_ARCHIVE, true).exit_code(), 130);
  EXPECT_EQ(
      JobStatusOf(WithPhase(absl::InternalError("x"), v1::PHASE_UPLOAD), v1::PHASE_ARCHIVE, true)
          .exit_code(),
      130);
  EXPECT_EQ(JobStatusOf(absl::DataLossError("bad chunk"), v1::PHASE_RESTORE, false).exit_code(), 8);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::DataLossError("blob x"), v1::PHASE_RESTORE),
                        v1::PHASE_RESTORE, false)
                .exit_code(),
            8);
  EXPECT_EQ(JobStatusOf(WithPhase(absl::InternalError("disk"), v1::PHASE_RESTORE),
                        v1::PHASE_RESTORE, false)
                .exit_code(),
            13);
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
  for (double f : {0.5, -1.0, 100.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    r.set_space_safety_factor(f);
    cases.push_back({r, "space_safety_factor"});
  }
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
  restore.set_target("/t");
  restore.set_overwrite(static_cast<v1::Overwrite>(9));
  absl::StatusOr<v1::Job> overwrite = m->StartRestore(restore);
  EXPECT_EQ(overwrite.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(overwrite.status().message(),
            "overwrite 9 is not a known policy: use OVERWRITE_ALWAYS, OVERWRITE_IF_CHANGED or "
            "OVERWRITE_NEVER");
  restore.set_overwrite(v1::OVERWRITE_NEVER);
  restore.set_target("/");
  restore.set_delete_extraneous(true);
  absl::StatusOr<v1::Job> root = m->StartRestore(restore);
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root.status().message(),
            "delete_extraneous with target \"/\" would remove everything the snapshot does not "
            "have from the collector's root; restore into another directory, or without delete");
  v1::StartVerifyRequest verify;
  verify.set_workers(-3);
  absl::StatusOr<v1::Job> v = m->StartVerify(verify);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("workers -3"), std::string::npos) << v.status();
  EXPECT_TRUE(All(*m).empty());

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
  // Cancelling an ended job is not an error: it is returned unchanged.
  absl::StatusOr<v1::Job> again = m->CancelJob(started->id());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(again->status().exit_code(), 10);

  v1::StartVerifyRequest v;
  absl::StatusOr<v1::Job> verify = m->StartVerify(v);
  ASSERT_TRUE(verify.ok());
  job = WaitEnd(*m, verify->id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().failed_phase(), v1::PHASE_UPLOAD);
  EXPECT_EQ(job.status().exit_code(), 12);
  ASSERT_EQ(All(*m).size(), 2u);
  EXPECT_EQ(All(*m)[0].id(), started->id());
}

TEST(JobManager, KeepsOnlyTheNewestFinishedJobs) {
  OrchestratorOptions o;
  o.collectors = o.chunkers = o.compressors = o.uploaders = {kNowhere};
  o.client_tls.insecure = true;
  o.max_finished_jobs = 2;
  auto m = JobManager::Create(o);
  ASSERT_TRUE(m.ok());
  v1::StartBackupRequest r;
  r.set_source("/data");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<v1::Job> job = (*m)->StartBackup(r);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
    ASSERT_TRUE((*m)->WaitIdle(absl::Seconds(30)));
  }
  // Pruned when the next job starts: 2 finished ones are kept plus the last.
  std::vector<v1::Job> jobs = All(**m);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].id(), ids[2]);
  EXPECT_EQ(jobs[2].id(), ids[4]);
  EXPECT_EQ((*m)->GetJob(ids[0]).status().code(), absl::StatusCode::kNotFound);
}

// A chunker that streams scripted events: progress and a warning, then
// waits for `release` (or the caller's cancellation), then `burst` progress
// events, a second warning and a result with exit code 3.
class ScriptedChunker final : public v1::Chunker::Service {
 public:
  explicit ScriptedChunker(int burst) : burst_(burst) {}

  grpc::Status RunBackup(grpc::ServerContext* context, const v1::BackupPlan* plan,
                         grpc::ServerWriter<v1::StageEvent>* writer) override {
    plan_ = *plan;
    if (!fail.ok()) return rpc::ToGrpcStatus(fail);
    v1::StageEvent e;
    e.mutable_progress()->set_phase(v1::PHASE_COLLECTION);
    e.mutable_progress()->set_files_done(1);
    e.mutable_progress()->set_bytes_done(100);
    writer->Write(e);
    e.Clear();
    e.mutable_warning()->set_message("first");
    e.mutable_warning()->set_data_missing(true);
    writer->Write(e);
    if (!started.HasBeenNotified()) started.Notify();
    while (!release.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
      if (context->IsCancelled()) {
        saw_cancel.Notify();
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
      }
    }
    for (int i = 1; i <= burst_; ++i) {
      e.Clear();
      e.mutable_progress()->set_phase(v1::PHASE_ARCHIVE);
      e.mutable_progress()->set_bytes_done(100 + i);
      writer->Write(e);
    }
    e.Clear();
    e.mutable_warning()->set_message("second");
    writer->Write(e);
    e.Clear();
    e.mutable_result()->set_snapshot("g/1");
    e.mutable_result()->set_exit_code(result_exit);
    e.mutable_result()->mutable_stats()->set_files(7);
    e.mutable_result()->mutable_stats()->set_bytes_read(12345);
    writer->Write(e);
    return grpc::Status::OK;
  }

  absl::Notification started, release, saw_cancel;
  v1::BackupPlan plan_;
  absl::Status fail;    // not OK: RunBackup fails at once with it
  int result_exit = 3;  // the result's exit code

 private:
  const int burst_;
};

struct FakeChunkerServer {
  explicit FakeChunkerServer(int burst) : service(burst) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
  }
  ~FakeChunkerServer() { server->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  ScriptedChunker service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

std::unique_ptr<JobManager> ManagerWithChunker(const std::string& chunker,
                                               const std::string& state_dir = "",
                                               size_t max_finished_jobs = 1000,
                                               size_t max_running_jobs = 16) {
  OrchestratorOptions o;
  o.state_dir = state_dir;
  o.max_finished_jobs = max_finished_jobs;
  o.max_running_jobs = max_running_jobs;
  o.collectors = {"127.0.0.21:1", "127.0.0.22:1"};
  o.chunkers = {chunker};
  o.compressors = {"127.0.0.31:1", "127.0.0.32:1"};
  o.uploaders = {"127.0.0.41:1"};
  o.client_tls.insecure = true;
  o.host = "testhost";
  o.watch_queue = 16;
  absl::StatusOr<std::unique_ptr<JobManager>> m = JobManager::Create(o);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

TEST(JobManager, StateDirKeepsTheHistoryAcrossRestarts) {
  FakeChunkerServer fake(/*burst=*/0);
  ASSERT_NE(fake.server, nullptr);
  fake.service.release.Notify();  // every job runs to its result at once
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/state";
  std::filesystem::remove_all(dir);
  v1::StartBackupRequest r;
  r.set_source("/data");
  std::vector<v1::Job> before;
  {
    auto m = ManagerWithChunker(fake.address(), dir);
    ASSERT_NE(m, nullptr);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<v1::Job> started = m->StartBackup(r);
      ASSERT_TRUE(started.ok()) << started.status();
      before.push_back(WaitEnd(*m, started->id()));
      EXPECT_NE(before.back().end_unix_ns(), 0);
      EXPECT_EQ(before.back().snapshot(), "g/1");
    }
  }
  {
    // A new orchestrator on the same directory: the same jobs, and new ids
    // continue after them.
    auto m = ManagerWithChunker(fake.address(), dir);
    ASSERT_NE(m, nullptr);
    std::vector<v1::Job> after = All(*m);
    ASSERT_EQ(after.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(after[i].SerializeAsString(), before[i].SerializeAsString()) << i;
    }
    absl::StatusOr<v1::Job> third = m->StartBackup(r);
    ASSERT_TRUE(third.ok()) << third.status();
    EXPECT_NE(third->id(), before[0].id());
    EXPECT_GT(third->id(), before[1].id()) << "ids sort by creation time";
    WaitEnd(*m, third->id());
    before.push_back(*third);
  }
  {
    // Keeping only the newest 2 finished jobs forgets the first, file too.
    auto m = ManagerWithChunker(fake.address(), dir, /*max_finished_jobs=*/2);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->GetJob(before[0].id()).status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(m->GetJob(before[2].id()).ok());
    EXPECT_FALSE(std::filesystem::exists(dir + "/jobs/" + before[0].id() + ".json"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/jobs/" + before[2].id() + ".json"));
  }
  // An unusable directory: Create fails naming it.
  const std::string file = dir + "/plain-file";
  std::ofstream(file) << "x";
  OrchestratorOptions o;
  o.uploaders = {"127.0.0.41:1"};
  o.client_tls.insecure = true;
  o.state_dir = file;
  absl::StatusOr<std::unique_ptr<JobManager>> bad = JobManager::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file), std::string::npos) << bad.status();
}

TEST(JobManager, WatchersGetCurrentStateThenLiveEventsAndASlowOneIsBounded) {
  FakeChunkerServer fake(/*burst=*/500);
  ASSERT_NE(fake.server, nullptr);
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  r.add_excludes("*.tmp");
  absl::StatusOr<v1::Job> started = m->StartBackup(r);
  ASSERT_TRUE(started.ok()) << started.status();
  absl::StatusOr<std::unique_ptr<JobWatch>> slow = m->Watch(started->id());
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // The plan: everything the chunker needs, no bulk data.
  EXPECT_EQ(fake.service.plan_.job_id(), started->id());
  EXPECT_EQ(fake.service.plan_.source(), "/data");
  EXPECT_EQ(fake.service.plan_.host(), "testhost");
  EXPECT_EQ(fake.service.plan_.collector(), "127.0.0.21:1");
  EXPECT_EQ(fake.service.plan_.compressors_size(), 2);
  EXPECT_EQ(fake.service.plan_.uploaders_size(), 1);
  EXPECT_TRUE(fake.service.plan_.metadata_change_detection());
  // Wait until the job has seen the first warning.
  for (int i = 0; i < 200 && m->GetJob(started->id())->warnings_size() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(m->GetJob(started->id())->state(), v1::JOB_STATE_RUNNING);
  // A late watcher gets the current state first.
  absl::StatusOr<std::unique_ptr<JobWatch>> late = m->Watch(started->id());
  ASSERT_TRUE(late.ok());
  std::optional<v1::JobEvent> e = (*late)->Next(absl::Seconds(5));
  ASSERT_TRUE(e && e->has_progress());
  EXPECT_EQ(e->progress().bytes_done(), 100u);
  EXPECT_EQ(e->progress().phase(), v1::PHASE_COLLECTION);
  e = (*late)->Next(absl::Seconds(5));
  ASSERT_TRUE(e && e->has_warning());
  EXPECT_EQ(e->warning().message(), "first");

  fake.service.release.Notify();
  ASSERT_TRUE(m->WaitIdle(absl::Seconds(30)));
  v1::Job job = *m->GetJob(started->id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS);
  EXPECT_EQ(job.status().exit_code(), 3);
  EXPECT_EQ(job.snapshot(), "g/1");
  EXPECT_EQ(job.stats().files(), 7u);
  EXPECT_EQ(job.result().exit_code(), 3);
  EXPECT_EQ(job.warnings_size(), 2);
  EXPECT_EQ(job.progress().bytes_done(), 600u);

  // The slow watcher never read during the burst: at most 16 events queued,
  // the newest progress kept, then the final job.
  std::vector<v1::JobEvent> events;
  while ((e = (*slow)->Next(absl::Seconds(1)))) events.push_back(*e);
  ASSERT_FALSE(events.empty());
  EXPECT_LE(events.size(), 17u);
  ASSERT_TRUE(events.back().has_final());
  EXPECT_EQ(events.back().final().status().exit_code(), 3);
  ASSERT_GE(events.size(), 2u);
  const v1::JobEvent& before_final = events[events.size() - 2];
  ASSERT_TRUE(before_final.has_progress());
  EXPECT_EQ(before_final.progress().bytes_done(), 600u);
  // The late watcher, read now, ends with the same final job.
  std::optional<v1::JobEvent> last;
  while ((e = (*late)->Next(absl::Seconds(1)))) last = e;
  ASSERT_TRUE(last && last->has_final());
  EXPECT_EQ(last->final().id(), started->id());

  // Round robin: the next job gets the second collector.
  absl::StatusOr<v1::Job> second = m->StartBackup(r);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(m->WaitIdle(absl::Seconds(30)));
  EXPECT_EQ(fake.service.plan_.collector(), "127.0.0.22:1");
}

TEST(JobManager, CancelStopsTheStageAndEndsWith130) {
  FakeChunkerServer fake(/*burst=*/0);
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> started = m->StartBackup(r);
  ASSERT_TRUE(started.ok());
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(20)));
  absl::StatusOr<v1::Job> cancelled = m->CancelJob(started->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_TRUE(fake.service.saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(m->WaitIdle(absl::Seconds(30)));
  v1::Job job = *m->GetJob(started->id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(job.status().exit_code(), 130);
  EXPECT_EQ(job.status().grpc_code(), 1);
  EXPECT_EQ(job.status().message(), "cancelled (CancelJob)");
  absl::StatusOr<v1::Job> again = m->CancelJob(started->id());  // idempotent
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state(), v1::JOB_STATE_CANCELLED);
}

TEST(JobManagerMetrics, FailedJobCountsItsPhaseAndExitCode) {
  FakeChunkerServer fake(/*burst=*/0);
  fake.service.fail = WithPhase(absl::UnavailableError("collector gone"), v1::PHASE_COLLECTION);
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  const std::map<std::string, std::string> failure{{"type", "backup"}, {"result", "failure"}};
  const std::map<std::string, std::string> collection{{"phase", "collection"}, {"exit_code", "9"}};
  const std::map<std::string, std::string> archive{{"phase", "archive"}, {"exit_code", "10"}};
  const double jobs = MetricValue("arca_jobs_total", failure);
  const double failures = MetricValue("arca_job_failures_total", collection);
  const double other = MetricValue("arca_job_failures_total", archive);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> started = m->StartBackup(r);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->group(), "testhost_data");
  v1::Job job = WaitEnd(*m, started->id());
  ASSERT_EQ(job.status().exit_code(), 9) << job.status().message();
  EXPECT_EQ(job.group(), "testhost_data");
  EXPECT_EQ(MetricValue("arca_jobs_total", failure) - jobs, 1);
  EXPECT_EQ(MetricValue("arca_job_failures_total", collection) - failures, 1);
  EXPECT_EQ(MetricValue("arca_job_failures_total", archive) - other, 0);
  // No snapshot: the group is GroupName(host, source).
  EXPECT_EQ(MetricValue("arca_last_job_exit_code", {{"group", "testhost_data"}}), 9);
  EXPECT_EQ(MetricValue("arca_jobs_running", {{"type", "backup"}}), 0);
}

TEST(JobManagerMetrics, SuccessSetsLastSuccessOfItsGroupAndCountsTheStats) {
  FakeChunkerServer fake(/*burst=*/0);
  fake.service.result_exit = 0;
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  const std::map<std::string, std::string> success{{"type", "backup"}, {"result", "success"}};
  const double jobs = MetricValue("arca_jobs_total", success);
  const double read_bytes = MetricValue("arca_job_read_bytes_total");
  const double files = MetricValue("arca_job_files_total");
  const double running = MetricValue("arca_jobs_running", {{"type", "backup"}});
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> started = m->StartBackup(r);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // The job is running (the fake waits for `release`).
  EXPECT_EQ(MetricValue("arca_jobs_running", {{"type", "backup"}}) - running, 1);
  fake.service.release.Notify();
  v1::Job job = WaitEnd(*m, started->id());
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(MetricValue("arca_jobs_running", {{"type", "backup"}}) - running, 0);
  EXPECT_EQ(MetricValue("arca_jobs_total", success) - jobs, 1);
  EXPECT_EQ(MetricValue("arca_job_read_bytes_total") - read_bytes, 12345);
  EXPECT_EQ(MetricValue("arca_job_files_total") - files, 7);
  // The group of the snapshot written ("g/1"), at the job's end.
  const double last = MetricValue("arca_last_success_timestamp_seconds", {{"group", "g"}});
  EXPECT_NEAR(last, static_cast<double>(job.end_unix_ns()) / 1e9, 1e-3);
}

// An uploader whose ListSnapshots fails `failures` times (UNAVAILABLE), then
// lists two groups.
class ListingUploader final : public v1::Uploader::Service {
 public:
  grpc::Status ListSnapshots(grpc::ServerContext*, const v1::ListSnapshotsRequest*,
                             v1::ListSnapshotsResponse* response) override {
    if (calls.fetch_add(1) < failures) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "repository not ready");
    }
    for (auto [group, ns] : {std::pair{"seed-a", int64_t{1700000000} * 1000000000},
                             std::pair{"seed-a", int64_t{1700000500} * 1000000000},
                             std::pair{"seed-b", int64_t{1600000000} * 1000000000}}) {
      v1::SnapshotInfo* info = response->add_snapshots();
      info->set_group(group);
      info->set_id(std::string(group) + "/x");
      info->set_time_unix_ns(ns);
    }
    return grpc::Status::OK;
  }
  int failures = 2;
  std::atomic<int> calls{0};
};

TEST(JobManagerMetrics, StartupSeedsLastSuccessFromTheUploaderRetryingUntilItAnswers) {
  ListingUploader uploader;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&uploader);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  ASSERT_NE(server, nullptr);
  OrchestratorOptions o;
  o.uploaders = {"127.0.0.1:" + std::to_string(port)};
  o.client_tls.insecure = true;
  o.seed_retry = absl::Milliseconds(50);
  const absl::Time before = absl::Now();
  absl::StatusOr<std::unique_ptr<JobManager>> m = JobManager::Create(o);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));  // Create does not wait for it
  bool seeded = false;
  for (int i = 0; i < 1000 && !seeded; ++i) {
    seeded = MetricValue("arca_last_success_timestamp_seconds", {{"group", "seed-b"}}) != 0;
    if (!seeded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(seeded);
  EXPECT_EQ(MetricValue("arca_last_success_timestamp_seconds", {{"group", "seed-a"}}), 1700000500);
  EXPECT_EQ(MetricValue("arca_last_success_timestamp_seconds", {{"group", "seed-b"}}), 1600000000);
  EXPECT_EQ(uploader.calls.load(), 3);  // two refusals, then the answer; no more calls
  m->reset();
  server->Shutdown();
}

TEST(JobManagerMetrics, SeedingAnUnreachableUploaderNeitherBlocksNorDelaysShutdown) {
  OrchestratorOptions o;
  o.uploaders = {kNowhere};
  o.client_tls.insecure = true;
  o.seed_retry = absl::Seconds(60);
  const absl::Time before = absl::Now();
  {
    absl::StatusOr<std::unique_ptr<JobManager>> m = JobManager::Create(o);
    ASSERT_TRUE(m.ok()) << m.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }  // the destructor wakes the retry wait
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));
}

TEST(JobManager, ARetriedRequestIdReturnsTheSameJob) {
  FakeChunkerServer fake(/*burst=*/0);
  ASSERT_NE(fake.server, nullptr);
  fake.service.release.Notify();
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  r.set_request_id("5b0e6f1c-4a55-4f0e-9d8e-2f1f6f7f8a9b");
  (*r.mutable_labels())["env"] = "prod";
  absl::StatusOr<v1::Job> first = m->StartBackup(r);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->labels().at("env"), "prod");
  EXPECT_TRUE(first->has_create_time());
  WaitEnd(*m, first->id());
  absl::StatusOr<v1::Job> again = m->StartBackup(r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), first->id());
  EXPECT_EQ(again->state(), v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS) << "as it is now";
  EXPECT_EQ(All(*m).size(), 1u);
  // A request_id of another shape, or a bad label: refused, no job.
  r.set_request_id("not valid!");
  EXPECT_EQ(m->StartBackup(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_request_id("");
  (*r.mutable_labels())["bad key"] = "x";
  absl::StatusOr<v1::Job> bad = m->StartBackup(r);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("labels"), std::string::npos) << bad.status();
  EXPECT_EQ(All(*m).size(), 1u);
}

TEST(JobManager, JobsBeyondMaxRunningWaitQueuedAndACancelledQueuedJobEndsAtOnce) {
  FakeChunkerServer fake(/*burst=*/0);
  ASSERT_NE(fake.server, nullptr);
  auto m = ManagerWithChunker(fake.address(), "", 1000, /*max_running_jobs=*/1);
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> running = m->StartBackup(r);
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::StatusOr<v1::Job> queued = m->StartBackup(r);
  absl::StatusOr<v1::Job> cancelled = m->StartBackup(r);
  ASSERT_TRUE(queued.ok() && cancelled.ok());
  EXPECT_EQ(queued->state(), v1::JOB_STATE_QUEUED);
  EXPECT_FALSE(queued->has_start_time()) << "not started while queued";
  v1::ListJobsRequest only_queued;
  only_queued.set_filter("state = QUEUED");
  absl::StatusOr<v1::ListJobsResponse> listed = m->ListJobs(only_queued);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->total_size(), 2);
  absl::StatusOr<v1::Job> c = m->CancelJob(cancelled->id());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(c->status().exit_code(), 130);
  fake.service.release.Notify();  // the running job ends; the queued one runs
  v1::Job second = WaitEnd(*m, queued->id());
  EXPECT_EQ(second.state(), v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS) << second.ShortDebugString();
  EXPECT_TRUE(second.has_start_time());
  EXPECT_EQ(WaitEnd(*m, cancelled->id()).state(), v1::JOB_STATE_CANCELLED);
}

TEST(JobManager, ShutdownEndsRunningJobsHonestlyAndWatchersGetTheFinalJob) {
  FakeChunkerServer fake(/*burst=*/0);
  ASSERT_NE(fake.server, nullptr);
  auto m = ManagerWithChunker(fake.address(), "", 1000, /*max_running_jobs=*/1);
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> running = m->StartBackup(r);
  absl::StatusOr<v1::Job> queued = m->StartBackup(r);
  ASSERT_TRUE(running.ok() && queued.ok());
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::StatusOr<std::unique_ptr<JobWatch>> watch = m->Watch(running->id());
  ASSERT_TRUE(watch.ok());
  m->Shutdown();
  std::optional<v1::JobEvent> e;
  std::optional<v1::Job> final_job;
  uint64_t last_sequence = 0;
  while ((e = (*watch)->Next(absl::Seconds(5)))) {
    EXPECT_GT(e->sequence(), last_sequence) << "sequences increase";
    last_sequence = e->sequence();
    if (e->has_final()) final_job = e->final();
  }
  ASSERT_TRUE(final_job.has_value());
  EXPECT_EQ(final_job->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(final_job->status().exit_code(), 1);
  EXPECT_EQ(final_job->status().grpc_code(), 14);
  EXPECT_NE(final_job->status().message().find("the orchestrator shut down"), std::string::npos)
      << final_job->status().message();
  EXPECT_EQ(final_job->status().message().find("CancelJob"), std::string::npos);
  absl::StatusOr<v1::Job> q = m->GetJob(queued->id());
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(q->status().message().find("the orchestrator shut down"), std::string::npos);
  EXPECT_EQ(m->StartBackup(r).status().code(), absl::StatusCode::kUnavailable);
}

TEST(JobManager, WatchResumesAfterASequence) {
  FakeChunkerServer fake(/*burst=*/5);
  ASSERT_NE(fake.server, nullptr);
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  absl::StatusOr<v1::Job> job = m->StartBackup(r);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(fake.service.started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The first watcher sees the events so far; a second one resumes after
  // the first event it was given and does not get that one again.
  absl::StatusOr<std::unique_ptr<JobWatch>> first = m->Watch(job->id());
  ASSERT_TRUE(first.ok());
  std::optional<v1::JobEvent> e1 = (*first)->Next(absl::Seconds(5));
  ASSERT_TRUE(e1.has_value());
  absl::StatusOr<std::unique_ptr<JobWatch>> resumed = m->Watch(job->id(), e1->sequence());
  ASSERT_TRUE(resumed.ok());
  fake.service.release.Notify();
  std::optional<v1::JobEvent> e;
  bool final_seen = false;
  while ((e = (*resumed)->Next(absl::Seconds(5)))) {
    EXPECT_GT(e->sequence(), e1->sequence());
    final_seen |= e->has_final();
  }
  EXPECT_TRUE(final_seen);
}

TEST(JobManager, ListJobsPagesFiltersAndOrders) {
  FakeChunkerServer fake(/*burst=*/0);
  ASSERT_NE(fake.server, nullptr);
  fake.service.release.Notify();
  auto m = ManagerWithChunker(fake.address());
  ASSERT_NE(m, nullptr);
  v1::StartBackupRequest r;
  r.set_source("/data");
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<v1::Job> job = m->StartBackup(r);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
    WaitEnd(*m, job->id());
  }
  v1::ListJobsRequest req;
  req.set_page_size(3);
  std::vector<std::string> seen;
  int pages = 0;
  do {
    absl::StatusOr<v1::ListJobsResponse> page = m->ListJobs(req);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total_size(), 7);
    for (const v1::Job& j : page->jobs()) {
      EXPECT_EQ(j.warnings_size(), 0) << "BASIC by default";
      EXPECT_EQ(j.warning_count(), 2u);
      seen.push_back(j.id());
    }
    req.set_page_token(page->next_page_token());
    ++pages;
  } while (!req.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
  v1::ListJobsRequest desc;
  desc.set_order_by("create_time desc");
  desc.set_page_size(1);
  absl::StatusOr<v1::ListJobsResponse> newest = m->ListJobs(desc);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->jobs_size(), 1);
  EXPECT_EQ(newest->jobs(0).id(), ids.back());
  desc.set_page_token(newest->next_page_token());
  desc.set_filter("state = FAILED");
  EXPECT_EQ(m->ListJobs(desc).status().code(), absl::StatusCode::kInvalidArgument)
      << "a token of another filter";
  v1::ListJobsRequest bad;
  bad.set_filter("colour = red");
  EXPECT_EQ(m->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
  // GetJob by a unique prefix; FULL has the warnings.
  absl::StatusOr<v1::Job> by_prefix = m->GetJob(ids[3].substr(0, 4 + 24));
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status();
  EXPECT_EQ(by_prefix->id(), ids[3]);
  EXPECT_EQ(by_prefix->warnings_size(), 2);
  EXPECT_EQ(m->GetJob("job-0").status().code(), absl::StatusCode::kNotFound)
      << "too short to be a prefix";
}

}  // namespace
}  // namespace arca::services
