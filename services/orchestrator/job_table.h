// The orchestrator's jobs: one record per job (its Job and what the runner
// needs to follow it), in creation order, with ids job-000001, ...; finished
// jobs beyond a limit are forgotten; with a JobStore (--state-dir) each
// record is also kept on disk and read back at start.
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

struct JobRecord {
  v1::Job job;
  std::string group;  // backups: GroupName(host, source)
  absl::Time start;
  bool cancel_requested = false;
  bool done = false;                    // final state reached
  grpc::ClientContext* call = nullptr;  // the call in flight, for CancelJob
  std::vector<std::shared_ptr<WatchQueue>> watchers;
};

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

  // A new job, PENDING, started now, with the next id; not saved yet.
  std::shared_ptr<JobRecord> Add(v1::JobType type, const std::string& snapshot);

  // InvalidArgument for an empty id, NotFound for an unknown one.
  absl::StatusOr<std::shared_ptr<JobRecord>> Find(const std::string& id) const;

  // Every job kept, oldest first.
  const std::deque<std::shared_ptr<JobRecord>>& records() const { return order_; }

  // Writes the job's record to the store (no-op without one; a failure is
  // logged, the job goes on).
  void Save(const JobRecord& rec);

  // Forgets the oldest finished jobs beyond `max_finished` (their records
  // are removed from the store). Running jobs are always kept.
  void ForgetFinished(size_t max_finished);

 private:
  std::unique_ptr<JobStore> store_;  // null without state_dir
  std::function<void(const std::string&)> log_;
  uint64_t next_id_ = 1;
  absl::flat_hash_map<std::string, std::shared_ptr<JobRecord>> jobs_;
  std::deque<std::shared_ptr<JobRecord>> order_;  // creation order
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_TABLE_H_
