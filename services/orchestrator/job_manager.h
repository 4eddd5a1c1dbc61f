// The orchestrator's job logic (protos/arca/v1/orchestrator.proto) without
// the server side of gRPC: validates requests (job_requests.h), creates jobs
// (job_table.h), runs each on a thread of its own and follows the stage that
// does the work (job_runner.cc), fans its events out to watchers
// (job_watch.h), maps the outcome to a JobStatus (job_status.h, DESIGN.md
// §5) and counts it (job_metrics.h). JobManager is the facade over them.
//
//   backup  → Chunker.RunBackup(BackupPlan) on the next chunker replica
//             (round robin), with the next collector replica and the full
//             compressor and uploader lists (the chunker spreads and retries
//             chunks over them);
//   restore → Chunker.RunRestore(RestorePlan), likewise;
//   verify  → Uploader.Verify on the next uploader replica (the check runs
//             where the data is).
// A chunker (verify: uploader) that is unreachable — UNAVAILABLE without a
// phase, before it sent anything — is skipped for the next replica in turn;
// the job fails only when none is reachable.
// Bulk data never flows through here: only plans, StageEvents and results.
//
// Job life: QUEUED (while max_running_jobs are running) → PENDING
// (admitted) → RUNNING (the call is issued) → SUCCEEDED |
// SUCCEEDED_WITH_WARNINGS (exit 3) | FAILED | CANCELLED (130). The final
// JobStatus carries failed_phase, exit_code, grpc_code, message. A Start*
// request with a request_id that a kept job already has returns that job
// (idempotent retries). Finished jobs are kept in memory (the newest
// max_finished_jobs, their lists trimmed to 64 KiB: job_query.h); with a
// state_dir also on disk in full (job_store.h), so they survive a restart,
// and a job that was running when the previous orchestrator died comes back
// as interrupted (FAILED, exit 1). Shutdown() ends running jobs the same
// way (FAILED, "the orchestrator shut down") and hands watchers that final
// job.
//
// Thread-safety: every public method is thread-safe. The destructor cancels
// every running job and joins its thread.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_MANAGER_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_MANAGER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "services/common/client_channel.h"
#include "services/orchestrator/job_metrics.h"
#include "services/orchestrator/job_status.h"
#include "services/orchestrator/job_table.h"
#include "services/orchestrator/job_watch.h"

namespace arca::services {

struct OrchestratorOptions {
  // Replica addresses per phase ("HOST:PORT"). A backup or restore needs
  // all four kinds; verify and ListSnapshots only uploaders.
  std::vector<std::string> collectors;
  std::vector<std::string> chunkers;
  std::vector<std::string> compressors;
  std::vector<std::string> uploaders;
  ClientTlsFlags client_tls;  // how the other services are called
  // Host name put in backup plans when the request has none ("" = this
  // machine's host name).
  std::string host;
  absl::Duration call_timeout = absl::Seconds(30);  // unary calls
  absl::Duration job_timeout = absl::Hours(24);     // a job's call
  size_t max_finished_jobs = 1000;                  // kept for GetJob/ListJobs
  // Jobs running at once (0 = no limit); the others wait QUEUED, in order.
  size_t max_running_jobs = 16;
  // Where the job history is kept across restarts (job_store.h; --state-dir):
  // "" = in memory only.
  std::string state_dir;
  size_t watch_queue = 256;                   // events buffered per watcher
  std::string program = "arca-orchestrator";  // log prefix
  // Seeding arca_last_success_timestamp_seconds{group} at start (see
  // JobManager::Create): off, or how long to wait between attempts.
  bool seed_last_success = true;
  absl::Duration seed_retry = absl::Seconds(5);
};

class JobManager {
 public:
  // InvalidArgument for an empty address or bad client TLS files (naming
  // them); channels connect lazily, so unreachable services show up in jobs.
  // With uploaders and seed_last_success, a background thread seeds
  // arca_last_success_timestamp_seconds{group} from Uploader.ListSnapshots
  // (the newest snapshot of each group): it tries the uploaders in turn
  // every seed_retry until one answers, then ends; it never blocks Create
  // and its failures are only logged (once). The destructor stops it.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(OrchestratorOptions options);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Validate the request (InvalidArgument naming the field: missing or
  // relative source/target, missing snapshot, negative or too large level,
  // workers or safety factor, unknown codec, bad exclude pattern or command,
  // bad request_id or labels; FailedPrecondition when a needed kind of
  // service was not configured), then create the job (PENDING, or QUEUED
  // while max_running_jobs run) and start its thread. Nothing is started
  // when validation fails. A request_id that a kept job already has returns
  // that job (as it is now) and starts nothing. Returns the job as created.
  // Unavailable after Shutdown().
  absl::StatusOr<v1::Job> StartBackup(const v1::StartBackupRequest& request);
  absl::StatusOr<v1::Job> StartRestore(const v1::StartRestoreRequest& request);
  absl::StatusOr<v1::Job> StartVerify(const v1::StartVerifyRequest& request);
  absl::StatusOr<v1::Job> StartForget(const v1::StartForgetRequest& request);
  absl::StatusOr<v1::Job> StartGc(const v1::StartGcRequest& request);

  // By id or unique prefix (JobTable::Find), in `view` (UNSPECIFIED: FULL).
  // InvalidArgument for an empty or ambiguous id, NotFound for an unknown one.
  absl::StatusOr<v1::Job> GetJob(const std::string& id, v1::JobView view = v1::JOB_VIEW_FULL) const;
  // A page of the jobs kept (orchestrator.proto ListJobsRequest).
  // InvalidArgument naming the field for a bad filter, order_by, page_size
  // or page_token.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) const;
  // Cancels the job's call (the stage stops; the job ends CANCELLED, exit
  // 130); a QUEUED job ends CANCELLED at once. Returns the job as it is now
  // (possibly still RUNNING for a moment). Idempotent: a job already
  // cancelled or ended is returned as it is. Errors as GetJob.
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  // A subscription to the job's events after `after_sequence` (see
  // JobWatch). Errors as GetJob.
  absl::StatusOr<std::unique_ptr<JobWatch>> Watch(const std::string& id,
                                                  uint64_t after_sequence = 0);

  // Uploader.ListSnapshots on the first uploader that answers (the next one
  // is tried when one is UNAVAILABLE), a page of at most page_size (0 = 100,
  // at most 1000). FailedPrecondition without uploaders.
  absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(const v1::ListSnapshotsRequest& request);
  // Uploader.GetSnapshot (manifest only) likewise.
  absl::StatusOr<v1::GetSnapshotResponse> GetSnapshot(const v1::GetSnapshotRequest& request);

  // Refuses new jobs (Unavailable), ends queued jobs and cancels running
  // ones, recording each as FAILED "the orchestrator shut down" (exit 1,
  // UNAVAILABLE) and handing watchers that final job; returns when every
  // job thread has ended. Idempotent; the destructor calls it.
  void Shutdown();

  // Blocks until no job is running or queued (tests). False after `timeout`.
  bool WaitIdle(absl::Duration timeout);

 private:
  explicit JobManager(OrchestratorOptions options)
      : options_(std::move(options)), table_([this](const std::string& m) { Log(m); }) {}

  // --- The runner (job_runner.cc): drives one job's call on its thread. ---
  // Saves the new job; starts it (StartThread) or, while max_running_jobs
  // run, queues it (QUEUED).
  void Launch(std::shared_ptr<JobRecord> rec, std::function<void()> body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts the job running and starts its thread.
  void StartThread(const std::shared_ptr<JobRecord>& rec, std::function<void()> body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts queued jobs while there is room.
  void AdmitQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the event's sequence, keeps it in the job's recent events and hands
  // it to the watchers.
  void PublishEvent(JobRecord& rec, v1::JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job that a kept job with this request_id is, if any.
  std::optional<v1::Job> Replay(const std::string& request_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunBackupJob(const std::shared_ptr<JobRecord>& rec, size_t chunker,
                    const v1::BackupPlan& plan);
  void RunRestoreJob(const std::shared_ptr<JobRecord>& rec, size_t chunker,
                     const v1::RestorePlan& plan);
  // Runs a chunker job's server stream to its end and finishes the job.
  template <typename Plan, typename Method>
  void RunChunkerJob(const std::shared_ptr<JobRecord>& rec, size_t chunker, const Plan& plan,
                     Method method, v1::Phase transport_phase);
  // Forget (then gc with prune) or gc alone, on `uploader` (then the next
  // while one is unreachable).
  void RunMaintenanceJob(const std::shared_ptr<JobRecord>& rec, size_t uploader,
                         std::optional<v1::ForgetRequest> forget, std::optional<v1::GcRequest> gc);
  // One unary call to the uploaders, from `uploader` on while one is
  // unreachable; the error names the uploader.
  absl::Status CallUploaders(
      const std::shared_ptr<JobRecord>& rec, size_t uploader, const char* what,
      const std::function<grpc::Status(v1::Uploader::Stub&, grpc::ClientContext*)>& call);
  // One unary call outside a job (ListSnapshots, GetSnapshot): the
  // uploaders in order until one answers other than UNAVAILABLE /
  // DEADLINE_EXCEEDED; the error names the uploader.
  absl::Status CallAnyUploader(
      const char* what,
      const std::function<grpc::Status(v1::Uploader::Stub&, grpc::ClientContext*)>& call);
  void RunVerifyJob(const std::shared_ptr<JobRecord>& rec, size_t uploader,
                    const v1::VerifyRequest& request);
  // Issues the call: RUNNING, or false when the job was cancelled first.
  bool BeginCall(const std::shared_ptr<JobRecord>& rec, grpc::ClientContext* ctx);
  void OnProgress(const std::shared_ptr<JobRecord>& rec, const v1::StageProgress& p);
  void OnWarning(const std::shared_ptr<JobRecord>& rec, const v1::Warning& w);
  // The job's end: JobStatus, state, record saved, metrics, final event;
  // then queued jobs are admitted.
  void Finish(const std::shared_ptr<JobRecord>& rec, const absl::Status& status,
              v1::Phase transport_phase, const v1::StageResult* result,
              const v1::VerifyResponse* verify);
  void FinishLocked(const std::shared_ptr<JobRecord>& rec, const absl::Status& status,
                    v1::Phase transport_phase, const v1::StageResult* result,
                    const v1::VerifyResponse* verify) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins the threads of ended jobs, then forgets the oldest finished jobs
  // beyond max_finished_jobs.
  void ReapThreads() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- The facade (job_manager.cc). ---
  // The seeding thread's body (see Create).
  void SeedLastSuccess();
  void Unsubscribe(WatchQueue* queue);
  void Log(const std::string& message) const;
  std::shared_ptr<grpc::Channel> Pick(const std::vector<std::shared_ptr<grpc::Channel>>& list,
                                      std::atomic<uint64_t>* next, size_t* index);
  // The collector of a backup or restore: `requested` (one of
  // options_.collectors, else InvalidArgument listing them) or, when empty,
  // the next one round robin.
  absl::Status PickCollector(const std::string& requested, size_t* index);

  const OrchestratorOptions options_;
  std::string default_host_;
  std::vector<std::shared_ptr<grpc::Channel>> collector_channels_;
  std::vector<std::shared_ptr<grpc::Channel>> chunker_channels_;
  std::vector<std::shared_ptr<grpc::Channel>> uploader_channels_;
  std::atomic<uint64_t> next_collector_{0};
  std::atomic<uint64_t> next_chunker_{0};
  std::atomic<uint64_t> next_uploader_{0};

  mutable absl::Mutex mu_;
  JobTable table_ ABSL_GUARDED_BY(mu_);  // and every JobRecord in it
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::shared_ptr<JobRecord>> queue_ ABSL_GUARDED_BY(mu_);  // QUEUED, oldest first
  std::vector<std::pair<std::shared_ptr<JobRecord>, std::thread>> threads_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* seed_call_ ABSL_GUARDED_BY(mu_) = nullptr;  // for the destructor
  std::thread seed_thread_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_MANAGER_H_
