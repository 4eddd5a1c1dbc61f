// The orchestrator's job logic (protos/arca/v1/orchestrator.proto) without
// the server side of gRPC: validates requests, creates jobs, runs each on a
// thread of its own, follows the stage that does the work, fans its events
// out to watchers and maps the outcome to a JobStatus (DESIGN.md §5).
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
// Job life: PENDING (created, validated) → RUNNING (the call is issued) →
// SUCCEEDED | SUCCEEDED_WITH_WARNINGS (exit 3) | FAILED | CANCELLED (130).
// The final JobStatus carries failed_phase, exit_code, grpc_code, message
// (JobOutcome below). Finished jobs are kept in memory (the newest
// max_finished_jobs); with a state_dir also on disk (job_store.h), so they
// survive a restart, and a job that was running when the previous
// orchestrator died comes back as interrupted (FAILED, exit 1).
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
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "libs/metrics/service_metrics.h"
#include "services/common/client_channel.h"
#include "services/orchestrator/job_store.h"

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

// The orchestrator's catalog (arca_jobs_total, arca_job_failures_total,
// arca_jobs_running, arca_last_success_timestamp_seconds, ...; JobMetrics)
// on metrics::ProcessRegistry(), created on first use and shared by every
// JobManager of the process. A JobManager counts:
//   arca_jobs_running{type}  +1 from the job's creation to its end;
//   RecordJobResult          when any job ends: type backup|restore|verify,
//                            exit code and failed phase of its JobStatus,
//                            start/end, for backups the group (the group of
//                            the snapshot written, else
//                            Repository::GroupName(host, source)) and the
//                            BackupStats of the chunker's result;
//   NoteLastSuccess          at start, the newest snapshot of every group.
metrics::OrchestratorMetrics& OrchestratorServiceMetrics();

// The status part of a job's end: which phase failed, the exit code of
// DESIGN.md §5. `status` is the outcome of the job's call with its phase
// restored (FromGrpcStatus); `transport_phase` is the phase of the service
// that was called (chunker of a backup → PHASE_ARCHIVE, of a restore →
// PHASE_RESTORE, uploader of a verify → PHASE_UPLOAD). failed_phase and
// exit_code follow the exit-code policy, FailedPhaseOf / ExitCodeOf(status,
// transport_phase) in libs/base/phase_status.h; this adds only what is the
// job's own: `cancel_requested` (CancelJob) turns any failure into 130
// (grpc_code CANCELLED, failed_phase as attached), and the message and
// grpc_code of the status. OK gives exit 0 (the caller applies a result's 3).
v1::JobStatus JobStatusOf(const absl::Status& status, v1::Phase transport_phase,
                          bool cancel_requested);

class JobManager;

// One WatchJob subscription. Events: the job's current state first (its
// latest Progress and the warnings so far; only the final Job when it has
// already ended), then live Progress and Warning events, and last the final
// Job. At most OrchestratorOptions::watch_queue events wait per watcher: when
// a slow watcher's queue is full, a newer Progress replaces the queued one
// and further warnings are dropped (the final Job still lists them all).
// Not thread-safe itself (one reader); must not outlive its JobManager.
class JobWatch {
 public:
  ~JobWatch();
  JobWatch(const JobWatch&) = delete;
  JobWatch& operator=(const JobWatch&) = delete;

  // The next event, waiting up to `timeout`; nullopt on timeout or after
  // the final event was returned (then finished() is true).
  std::optional<v1::JobEvent> Next(absl::Duration timeout);
  bool finished() const { return finished_; }

 private:
  friend class JobManager;
  struct State;
  JobWatch(JobManager* manager, std::shared_ptr<State> state)
      : manager_(manager), state_(std::move(state)) {}

  JobManager* manager_;
  std::shared_ptr<State> state_;
  bool finished_ = false;
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
  // workers or safety factor, unknown codec, bad exclude pattern or command;
  // FailedPrecondition when a needed kind of service was not configured),
  // then create the job (PENDING) and start its thread. Nothing is started
  // when validation fails. Returns the job as created.
  absl::StatusOr<v1::Job> StartBackup(const v1::StartBackupRequest& request);
  absl::StatusOr<v1::Job> StartRestore(const v1::StartRestoreRequest& request);
  absl::StatusOr<v1::Job> StartVerify(const v1::StartVerifyRequest& request);

  // InvalidArgument for an empty id, NotFound for an unknown one.
  absl::StatusOr<v1::Job> GetJob(const std::string& id) const;
  // Every job kept, oldest first.
  std::vector<v1::Job> ListJobs() const;
  // Cancels the job's call (the stage stops; the job ends CANCELLED, exit
  // 130). Returns the job as it is now (possibly still RUNNING for a moment).
  // InvalidArgument / NotFound as GetJob; FailedPrecondition when the job
  // has already ended.
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  // A subscription to the job's events (see JobWatch). Errors as GetJob.
  absl::StatusOr<std::unique_ptr<JobWatch>> Watch(const std::string& id);

  // Uploader.ListSnapshots on the first uploader that answers (the next one
  // is tried when one is UNAVAILABLE). FailedPrecondition without uploaders.
  absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(const v1::ListSnapshotsRequest& request);

  // Blocks until no job is running (tests). False after `timeout`.
  bool WaitIdle(absl::Duration timeout);

 private:
  friend class JobWatch;
  struct Record;

  explicit JobManager(OrchestratorOptions options) : options_(std::move(options)) {}

  std::shared_ptr<Record> NewJob(v1::JobType type, const std::string& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(std::shared_ptr<Record> rec, std::function<void()> body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a chunker job's server stream to its end and finishes the job.
  template <typename Plan, typename Method>
  void RunChunkerJob(const std::shared_ptr<Record>& rec, size_t chunker, const Plan& plan,
                     Method method, v1::Phase transport_phase);
  void RunVerifyJob(const std::shared_ptr<Record>& rec, size_t uploader,
                    const v1::VerifyRequest& request);
  // Issues the call: RUNNING, or false when the job was cancelled first.
  bool BeginCall(const std::shared_ptr<Record>& rec, grpc::ClientContext* ctx);
  void Publish(const std::shared_ptr<Record>& rec, const v1::JobEvent& event);
  void OnProgress(const std::shared_ptr<Record>& rec, const v1::StageProgress& p);
  void OnWarning(const std::shared_ptr<Record>& rec, const v1::Warning& w);
  void Finish(const std::shared_ptr<Record>& rec, const absl::Status& status,
              v1::Phase transport_phase, const v1::StageResult* result,
              const v1::VerifyResponse* verify);
  void ReapThreads() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The seeding thread's body (see Create).
  void SeedLastSuccess();
  void Unsubscribe(JobWatch::State* state);
  void Log(const std::string& message) const;
  std::shared_ptr<grpc::Channel> Pick(const std::vector<std::shared_ptr<grpc::Channel>>& list,
                                      std::atomic<uint64_t>* next, size_t* index);
  // The collector of a backup or restore: `requested` (one of
  // options_.collectors, else InvalidArgument listing them) or, when empty,
  // the next one round robin.
  absl::Status PickCollector(const std::string& requested, size_t* index);
  absl::StatusOr<std::shared_ptr<Record>> Find(const std::string& id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The job history (state_dir): read at Create; SaveJob writes a job's
  // record (a failure is logged, the job goes on).
  void LoadJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SaveJob(const Record& rec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OrchestratorOptions options_;
  std::string default_host_;
  std::unique_ptr<JobStore> store_;  // null without state_dir
  std::vector<std::shared_ptr<grpc::Channel>> collector_channels_;
  std::vector<std::shared_ptr<grpc::Channel>> chunker_channels_;
  std::vector<std::shared_ptr<grpc::Channel>> uploader_channels_;
  std::atomic<uint64_t> next_collector_{0};
  std::atomic<uint64_t> next_chunker_{0};
  std::atomic<uint64_t> next_uploader_{0};

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<Record>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Record>> order_ ABSL_GUARDED_BY(mu_);  // creation order
  std::vector<std::pair<std::shared_ptr<Record>, std::thread>> threads_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* seed_call_ ABSL_GUARDED_BY(mu_) = nullptr;  // for the destructor
  std::thread seed_thread_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_MANAGER_H_
