// The orchestrator's jobs: one record per job (its Job and what the runner
// needs to follow it), in creation order, with ids job-<ULID> (job_id.h),
// found by id, by a unique id prefix or by request_id; finished jobs beyond
// a limit are forgotten; with a JobStore (--state-dir) each record is also
// kept on disk (in full: a finished job in memory keeps only
// kFinishedJobMemoryBudgetBytes of its lists, job_query.h) and read back at
// start.
//
// Not thread-safe: its owner guards it, and every JobRecord in it, with one
// mutex (JobManager::mu_).
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_TABLE_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arca/v1/orchestrator.pb.h"
#include "grpcpp/client_context.h"
#include "services/orchestrator/job_store.h"
#include "services/orchestrator/job_watch.h"

namespace arca::services {

// The last events of a job kept for WatchJob's after_sequence.
inline constexpr size_t kRecentJobEvents = 256;

struct JobRecord {
  v1::Job job;
  std::string group;  // backups: GroupName(host, source)
  absl::Time start;   // creation
  bool cancel_requested = false;
  bool shutdown = false;                // cancelled because the orchestrator shuts down
  bool done = false;                    // final state reached
  bool queued = false;                  // waiting for admission (QUEUED)
  std::function<void()> body;           // while queued: what runs once admitted
  grpc::ClientContext* call = nullptr;  // the call in flight, for CancelJob
  std::vector<std::shared_ptr<WatchQueue>> watchers;
  uint64_t last_sequence = 0;       // of the job's events
  std::deque<v1::JobEvent> recent;  // the last kRecentJobEvents events
  size_t warning_bytes = 0;         // of job.warnings (WarningBytes)
  // A finished job keeps its growing lists (warnings, verify.problems,
  // forget.snapshots) out of `job`, as the serialized v1::Job holding only
  // them, cut to kFinishedJobMemoryBudgetBytes: bytes take a third of the
  // memory of parsed messages. JobTable::Full merges them back.
  std::string kept_lists;
  bool trimmed = false;  // lists cut in memory; the store has them in full
};

// Moves a finished job's growing lists out of rec.job into rec.kept_lists
// (cut to kFinishedJobMemoryBudgetBytes); `on_disk`: a store holds the full
// record, so a cut sets rec.trimmed.
void KeepListsAside(JobRecord& rec, bool on_disk);

class JobTable {
 public:
  // In memory only until Load attaches a store. `log` takes one line (notes
  // of the store, failures to write or remove a record: they are not errors).
  explicit JobTable(std::function<void(const std::string&)> log) : log_(std::move(log)) {}

  // Keeps the job history in `store` from now on (--state-dir) and reads its
  // records back as ended jobs (JobStore::Load: a job that was running is
  // interrupted, corrupt files are moved aside); new ids continue after the
  // highest. Then ForgetFinished(max_finished).
  void Load(std::unique_ptr<JobStore> store, size_t max_finished);

  // A new job, PENDING, created now, with a new id; not saved yet.
  std::shared_ptr<JobRecord> Add(v1::JobType type, const std::string& snapshot,
                                 const std::string& request_id);

  // The job a Start* request with this request_id created, or null ("" and
  // unknown ids: null). Kept as long as the job is.
  std::shared_ptr<JobRecord> FindByRequestId(const std::string& request_id) const;

  // By the full id or a unique prefix: "job-" + at least 6 characters, or
  // those characters without "job-". InvalidArgument for an empty or
  // ambiguous id (naming the candidates), NotFound for an unknown one.
  absl::StatusOr<std::shared_ptr<JobRecord>> Find(const std::string& id) const;

  // The job in full: from the store when the record was trimmed in memory
  // (falls back to the record, logging why), else the record's job with its
  // kept lists.
  v1::Job Full(const JobRecord& rec) const;

  // Every job kept, oldest first.
  const std::deque<std::shared_ptr<JobRecord>>& records() const { return order_; }

  // Writes the job's record to the store (no-op without one; a failure is
  // logged, the job goes on).
  void Save(const JobRecord& rec);

  // Forgets the oldest finished jobs beyond `max_finished` (their records
  // are removed from the store). Running and queued jobs are always kept.
  void ForgetFinished(size_t max_finished);

  // A finished job's record: saved in full, then its lists moved to
  // kept_lists, cut to kFinishedJobMemoryBudgetBytes (trimmed set when
  // anything was cut and a store holds the rest).
  void SaveFinished(JobRecord& rec);

 private:
  std::unique_ptr<JobStore> store_;  // null without state_dir
  std::function<void(const std::string&)> log_;
  absl::flat_hash_map<std::string, std::shared_ptr<JobRecord>> jobs_;
  absl::flat_hash_map<std::string, std::shared_ptr<JobRecord>> by_request_id_;
  std::deque<std::shared_ptr<JobRecord>> order_;  // creation order
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_TABLE_H_
