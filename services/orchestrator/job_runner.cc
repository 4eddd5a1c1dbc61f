// JobManager's runner: a job's thread issues its call (Chunker.RunBackup /
// RunRestore, Uploader.Verify), moves on to the next replica while one is
// unreachable, turns the stage's events into progress and warnings for the
// job and its watchers, and finishes the job. The facade is job_manager.cc.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "libs/base/phase_status.h"
#include "libs/rpc/status_convert.h"
#include "services/orchestrator/job_manager.h"
#include "services/orchestrator/job_query.h"

namespace arca::services {
namespace {

using google::protobuf::util::TimeUtil;

// A call that failed this way reached no stage: the replica is down or
// unreachable (no connection), so another replica may take the job. A stage
// that answered attaches its phase to its errors.
bool Unreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) && PhaseOf(status) == v1::PHASE_UNSPECIFIED;
}

}  // namespace

void JobManager::Launch(std::shared_ptr<JobRecord> rec, std::function<void()> body) {
  if (options_.max_running_jobs > 0 && running_ >= options_.max_running_jobs) {
    rec->queued = true;
    rec->body = std::move(body);
    rec->job.set_state(v1::JOB_STATE_QUEUED);
    queue_.push_back(rec);
    OrchestratorServiceMetrics().Queued(JobTypeLabel(rec->job.type())).Increment();
    Log(absl::StrCat("job ", rec->job.id(), ": queued (", running_, " of --max-running-jobs=",
                     options_.max_running_jobs, " running, ", queue_.size(), " queued)"));
    table_.Save(*rec);
    return;
  }
  table_.Save(*rec);
  StartThread(rec, std::move(body));
}

void JobManager::StartThread(const std::shared_ptr<JobRecord>& rec, std::function<void()> body) {
  ++running_;
  CountJobStart(rec->job.type());
  const absl::Time now = absl::Now();
  *rec->job.mutable_start_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  *rec->job.mutable_update_time() = rec->job.start_time();
  threads_.emplace_back(rec, std::thread(std::move(body)));
}

void JobManager::AdmitQueued() {
  while (!queue_.empty() && !shutting_down_ &&
         (options_.max_running_jobs == 0 || running_ < options_.max_running_jobs)) {
    std::shared_ptr<JobRecord> rec = queue_.front();
    queue_.pop_front();
    OrchestratorServiceMetrics().Queued(JobTypeLabel(rec->job.type())).Decrement();
    rec->queued = false;
    rec->job.set_state(v1::JOB_STATE_PENDING);
    Log(absl::StrCat("job ", rec->job.id(), ": admitted after ",
                     absl::FormatDuration(absl::Trunc(absl::Now() - rec->start, absl::Seconds(1))),
                     " in the queue"));
    StartThread(rec, std::move(rec->body));
    rec->body = nullptr;
  }
}

void JobManager::PublishEvent(JobRecord& rec, v1::JobEvent event) {
  event.set_sequence(++rec.last_sequence);
  *rec.job.mutable_update_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  if (event.has_progress() && !rec.recent.empty() && rec.recent.back().has_progress()) {
    rec.recent.back() = event;  // coalesced: the newest progress is what matters
  } else {
    rec.recent.push_back(event);
    if (rec.recent.size() > kRecentJobEvents) rec.recent.pop_front();
  }
  PublishToWatchers(rec.watchers, event, options_.watch_queue);
}

void JobManager::ReapThreads() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->first->done) {
      // The thread only returns after marking the job done.
      it->second.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  // Forget the oldest finished jobs beyond the limit.
  table_.ForgetFinished(options_.max_finished_jobs);
}

bool JobManager::BeginCall(const std::shared_ptr<JobRecord>& rec, grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  if (rec->cancel_requested) return false;
  rec->call = ctx;
  rec->job.set_state(v1::JOB_STATE_RUNNING);
  *rec->job.mutable_update_time() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  return true;
}

template <typename Plan, typename Method>
void JobManager::RunChunkerJob(const std::shared_ptr<JobRecord>& rec, size_t chunker,
                               const Plan& plan, Method method, v1::Phase transport_phase) {
  // The picked replica first; while a replica is unreachable before it sent
  // anything, the next one (nothing was started on it, so this is safe).
  absl::Status status;
  std::optional<v1::StageResult> result;
  std::vector<std::string> unreachable;
  for (size_t attempt = 0; attempt < chunker_channels_.size(); ++attempt) {
    const size_t c = (chunker + attempt) % chunker_channels_.size();
    const std::string& address = options_.chunkers[c];
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.job_timeout));
    if (!BeginCall(rec, &ctx)) {
      Finish(rec, absl::CancelledError("cancelled before it started"), transport_phase, nullptr,
             nullptr);
      return;
    }
    auto stub = v1::Chunker::NewStub(chunker_channels_[c]);
    std::unique_ptr<grpc::ClientReader<v1::StageEvent>> reader = ((*stub).*method)(&ctx, plan);
    v1::StageEvent e;
    bool answered = false;
    while (reader->Read(&e)) {
      answered = true;
      if (e.has_progress()) OnProgress(rec, e.progress());
      if (e.has_warning()) OnWarning(rec, e.warning());
      if (e.has_result()) result = e.result();
    }
    status = rpc::FromGrpcStatus(reader->Finish());
    bool cancel_requested = false;
    {
      absl::MutexLock lock(&mu_);
      rec->call = nullptr;
      cancel_requested = rec->cancel_requested;
    }
    if (!status.ok() && PhaseOf(status) == v1::PHASE_UNSPECIFIED) {
      status =
          absl::Status(status.code(), absl::StrCat("chunker ", address, ": ", status.message()));
    }
    if (answered || cancel_requested || !Unreachable(status)) break;
    unreachable.push_back(address);
    if (attempt + 1 < chunker_channels_.size()) {
      Log(absl::StrCat("job ", rec->job.id(), ": ", status.message(), "; trying chunker ",
                       options_.chunkers[(c + 1) % chunker_channels_.size()]));
    }
  }
  if (unreachable.size() > 1 && unreachable.size() == chunker_channels_.size()) {
    status = absl::Status(status.code(), absl::StrCat("no chunker replica is reachable (",
                                                      absl::StrJoin(unreachable, ", "),
                                                      "); last: ", status.message()));
  }
  if (status.ok() && !result) {
    status = WithPhase(absl::InternalError(absl::StrCat("chunker ", options_.chunkers[chunker],
                                                        " ended the job without a result")),
                       transport_phase);
  }
  Finish(rec, status, transport_phase, result ? &*result : nullptr, nullptr);
}

void JobManager::RunBackupJob(const std::shared_ptr<JobRecord>& rec, size_t chunker,
                              const v1::BackupPlan& plan) {
  RunChunkerJob(rec, chunker, plan, &v1::Chunker::Stub::RunBackup, v1::PHASE_ARCHIVE);
}

void JobManager::RunRestoreJob(const std::shared_ptr<JobRecord>& rec, size_t chunker,
                               const v1::RestorePlan& plan) {
  RunChunkerJob(rec, chunker, plan, &v1::Chunker::Stub::RunRestore, v1::PHASE_RESTORE);
}

void JobManager::RunVerifyJob(const std::shared_ptr<JobRecord>& rec, size_t uploader,
                              const v1::VerifyRequest& request) {
  // The picked uploader first, then the next while one is unreachable
  // (verify only reads: any replica of the repository can run it).
  v1::VerifyResponse response;
  absl::Status status;
  for (size_t attempt = 0; attempt < uploader_channels_.size(); ++attempt) {
    const size_t u = (uploader + attempt) % uploader_channels_.size();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.job_timeout));
    if (!BeginCall(rec, &ctx)) {
      Finish(rec, absl::CancelledError("cancelled before it started"), v1::PHASE_UPLOAD, nullptr,
             nullptr);
      return;
    }
    if (attempt == 0) {
      OnProgress(rec, [] {
        v1::StageProgress p;
        p.set_phase(v1::PHASE_VERIFICATION);
        return p;
      }());
    }
    auto stub = v1::Uploader::NewStub(uploader_channels_[u]);
    status = rpc::FromGrpcStatus(stub->Verify(&ctx, request, &response));
    bool cancel_requested = false;
    {
      absl::MutexLock lock(&mu_);
      rec->call = nullptr;
      cancel_requested = rec->cancel_requested;
    }
    if (!status.ok()) {
      status = absl::Status(
          status.code(),
          absl::StrCat("verify on uploader ", options_.uploaders[u], ": ", status.message()));
    }
    if (cancel_requested || !Unreachable(status)) break;
    if (attempt + 1 < uploader_channels_.size()) {
      Log(absl::StrCat("job ", rec->job.id(), ": ", status.message(), "; trying uploader ",
                       options_.uploaders[(u + 1) % uploader_channels_.size()]));
    }
  }
  if (!status.ok()) {
    Finish(rec, status, v1::PHASE_UPLOAD, nullptr, nullptr);
    return;
  }
  for (const std::string& p : response.problems()) {
    v1::Warning w;
    w.set_phase(v1::PHASE_VERIFICATION);
    w.set_message(p);
    w.set_data_missing(true);
    OnWarning(rec, w);
  }
  if (response.exit_code() == v1::EXIT_CODE_VERIFICATION) {
    status =
        WithPhase(absl::DataLossError(absl::StrCat(
                      "verification failed: ", response.problems_size(), " problem(s)",
                      response.problems().empty() ? std::string() : ": " + response.problems(0))),
                  v1::PHASE_VERIFICATION);
  } else if (response.exit_code() != 0) {
    status = absl::InternalError(
        absl::StrCat("uploader answered Verify with exit code ", response.exit_code()));
  }
  Finish(rec, status, v1::PHASE_UPLOAD, nullptr, &response);
}

absl::Status JobManager::CallUploaders(
    const std::shared_ptr<JobRecord>& rec, size_t uploader, const char* what,
    const std::function<grpc::Status(v1::Uploader::Stub&, grpc::ClientContext*)>& call) {
  // The picked uploader first, then the next while one is unreachable
  // (forget and gc may be repeated: forgetting a forgotten snapshot and
  // collecting twice are harmless).
  absl::Status status;
  for (size_t attempt = 0; attempt < uploader_channels_.size(); ++attempt) {
    const size_t u = (uploader + attempt) % uploader_channels_.size();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.job_timeout));
    if (!BeginCall(rec, &ctx)) return absl::CancelledError("cancelled before it started");
    auto stub = v1::Uploader::NewStub(uploader_channels_[u]);
    status = rpc::FromGrpcStatus(call(*stub, &ctx));
    bool cancel_requested = false;
    {
      absl::MutexLock lock(&mu_);
      rec->call = nullptr;
      cancel_requested = rec->cancel_requested;
    }
    if (!status.ok()) {
      status = absl::Status(
          status.code(),
          absl::StrCat(what, " on uploader ", options_.uploaders[u], ": ", status.message()));
    }
    if (cancel_requested || !Unreachable(status)) break;
    if (attempt + 1 < uploader_channels_.size()) {
      Log(absl::StrCat("job ", rec->job.id(), ": ", status.message(), "; trying uploader ",
                       options_.uploaders[(u + 1) % uploader_channels_.size()]));
    }
  }
  return status;
}

void JobManager::RunMaintenanceJob(const std::shared_ptr<JobRecord>& rec, size_t uploader,
                                   std::optional<v1::ForgetRequest> forget,
                                   std::optional<v1::GcRequest> gc) {
  absl::Status status;
  if (forget) {
    v1::ForgetResponse response;
    status = CallUploaders(rec, uploader, "Forget",
                           [&](v1::Uploader::Stub& stub, grpc::ClientContext* ctx) {
                             return stub.Forget(ctx, *forget, &response);
                           });
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      *rec->job.mutable_forget() = response;
    }
  }
  if (status.ok() && gc) {
    v1::GcResponse response;
    status =
        CallUploaders(rec, uploader, "Gc", [&](v1::Uploader::Stub& stub, grpc::ClientContext* ctx) {
          return stub.Gc(ctx, *gc, &response);
        });
    if (status.ok()) {
      {
        absl::MutexLock lock(&mu_);
        *rec->job.mutable_gc() = response;
      }
      if (!gc->dry_run()) {
        metrics::NoteGcSuccess(OrchestratorServiceMetrics().jobs, std::chrono::system_clock::now());
      }
      if (response.chunks_missing() > 0) {
        v1::Warning w;
        w.set_phase(v1::PHASE_VERIFICATION);
        w.set_message(absl::StrCat(response.chunks_missing(),
                                   " referenced chunk(s) have no chunk file: run a verify job"));
        OnWarning(rec, w);
      }
    }
  }
  // As `arca forget` / `arca gc` say it: a refused request 2, a repository
  // error 4 (a corrupt snapshot stops gc before it removes anything);
  // unreachable uploaders are the upload phase's (12); cancelled 130.
  if (!status.ok() && !Unreachable(status) && !absl::IsCancelled(status)) {
    status =
        WithPhase(absl::IsInvalidArgument(status)
                      ? status
                      : absl::FailedPreconditionError(absl::StrCat(
                            status.message(), " (", absl::StatusCodeToString(status.code()), ")")),
                  v1::PHASE_SETUP);
  }
  Finish(rec, status, v1::PHASE_UPLOAD, nullptr, nullptr);
}

void JobManager::OnProgress(const std::shared_ptr<JobRecord>& rec, const v1::StageProgress& p) {
  absl::MutexLock lock(&mu_);
  v1::Progress* progress = rec->job.mutable_progress();
  progress->set_phase(p.phase());
  progress->set_files_done(p.files_done());
  progress->set_bytes_done(p.bytes_done());
  progress->set_bytes_total(p.bytes_total());
  const double secs = absl::ToDoubleSeconds(absl::Now() - rec->start);
  progress->set_bytes_per_second(secs > 0 ? static_cast<double>(p.bytes_done()) / secs : 0);
  v1::JobEvent e;
  *e.mutable_progress() = *progress;
  PublishEvent(*rec, std::move(e));
}

void JobManager::OnWarning(const std::shared_ptr<JobRecord>& rec, const v1::Warning& w) {
  absl::MutexLock lock(&mu_);
  rec->job.set_warning_count(rec->job.warning_count() + 1);
  const size_t bytes = WarningBytes(w);
  if (rec->warning_bytes + bytes <= kJobListBudgetBytes) {
    rec->warning_bytes += bytes;
    *rec->job.add_warnings() = w;
  }
  v1::JobEvent e;
  *e.mutable_warning() = w;
  PublishEvent(*rec, std::move(e));
}

void JobManager::Finish(const std::shared_ptr<JobRecord>& rec, const absl::Status& status,
                        v1::Phase transport_phase, const v1::StageResult* result,
                        const v1::VerifyResponse* verify) {
  absl::MutexLock lock(&mu_);
  FinishLocked(rec, status, transport_phase, result, verify);
  AdmitQueued();
}

void JobManager::FinishLocked(const std::shared_ptr<JobRecord>& rec, const absl::Status& status,
                              v1::Phase transport_phase, const v1::StageResult* result,
                              const v1::VerifyResponse* verify) {
  v1::Job& job = rec->job;
  const bool was_running = !rec->queued;
  if (rec->queued) {
    OrchestratorServiceMetrics().Queued(JobTypeLabel(job.type())).Decrement();
    rec->queued = false;
    rec->body = nullptr;
  }
  *job.mutable_status() =
      JobStatusOf(status, transport_phase, rec->cancel_requested, rec->shutdown && !status.ok());
  if (result != nullptr) {
    *job.mutable_result() = *result;
    if (!result->snapshot().empty()) job.set_snapshot(result->snapshot());
    if (result->has_stats()) *job.mutable_stats() = result->stats();
  }
  if (verify != nullptr) *job.mutable_verify() = *verify;
  if (!status.ok()) {
    job.set_state(job.status().exit_code() == v1::EXIT_CODE_CANCELLED ? v1::JOB_STATE_CANCELLED
                                                                      : v1::JOB_STATE_FAILED);
  } else if (result != nullptr && result->exit_code() == v1::EXIT_CODE_PARTIAL) {
    job.mutable_status()->set_exit_code(v1::EXIT_CODE_PARTIAL);
    job.mutable_status()->set_message("snapshot written, but some source data is missing from it");
    job.set_state(v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS);
  } else {
    job.set_state(v1::JOB_STATE_SUCCEEDED);
  }
  TrimJobLists(&job, kJobListBudgetBytes);
  const absl::Time end = absl::Now();
  job.set_end_unix_ns(absl::ToUnixNanos(end));
  *job.mutable_end_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(end));
  *job.mutable_update_time() = job.end_time();
  rec->done = true;
  const uint64_t final_sequence = ++rec->last_sequence;
  // A watcher of an ended job gets only its final Job: the replay buffer
  // is not needed any more (bounded memory of the history).
  std::deque<v1::JobEvent>().swap(rec->recent);
  // Metrics, before WaitIdle can see the job ended.
  if (was_running) --running_;
  CountJobEnd(job, rec->group, rec->start, end, result, was_running);
  for (const std::shared_ptr<WatchQueue>& w : rec->watchers) {
    w->final_job = job;
    w->final_sequence = final_sequence;
  }
  table_.SaveFinished(*rec);  // in full on disk; lists trimmed in memory
  Log(absl::StrCat("job ", job.id(), ": ", v1::JobState_Name(job.state()), ", exit ",
                   static_cast<int>(job.status().exit_code()),
                   job.status().message().empty() ? "" : ": " + job.status().message()));
}

}  // namespace arca::services
