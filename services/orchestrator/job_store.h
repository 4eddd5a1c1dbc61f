// The orchestrator's job history on disk (--state-dir DIR): one file per job,
// DIR/jobs/<id>.json, the JSON of an arca.v1.JobRecord (format 2,
// docs/formats/orchestrator-jobs.md). A job's file is written when the job is
// created and again when it ends, each time atomically (temp file, fsync,
// rename, fsync of the directory); live progress is not written.
//
// Load, at start-up, reads every job file back:
// - a job that had not ended (the previous orchestrator died while it ran)
//   is recorded as interrupted: FAILED, exit 1, UNAVAILABLE, with a message
//   saying so (and the file is rewritten);
// - a file that does not parse is renamed to <name>.corrupt and skipped;
// - a file of a newer format is left alone and skipped;
// - a file whose name is not a job id (job_id.h) is ignored.
// Problems are returned as notes for the log, never as errors: one bad file
// does not stop the orchestrator.
//
// Thread-safety: none; the JobManager calls it under its mutex.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_STORE_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/orchestrator.pb.h"

namespace arca::services {

// 2: ids "job-<ULID>" and Timestamp fields. Format 1 records (ids
// "job-000042", only start_unix_ns / end_unix_ns) are still read.
inline constexpr uint32_t kJobRecordFormatVersion = 2;

class JobStore {
 public:
  // Creates DIR/jobs when missing. FailedPrecondition naming the directory
  // and the reason when it cannot be created or is not writable.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& dir);

  struct Loaded {
    std::vector<v1::Job> jobs;       // by id, oldest first; every one ended
    std::vector<std::string> notes;  // what was repaired or skipped, for the log
  };
  // Every job file of the directory (see the file comment). `now_unix_ns`
  // is the end time given to interrupted jobs.
  Loaded Load(int64_t now_unix_ns);

  // Writes the job's file (replacing it). The error names the file.
  absl::Status Save(const v1::Job& job);
  // The job as its file holds it (the full record: a finished job in memory
  // keeps less, job_query.h). NotFound / DataLoss naming the file.
  absl::StatusOr<v1::Job> Read(const std::string& id) const;
  // Removes the job's file; a missing file is not an error.
  absl::Status Remove(const std::string& id);

  const std::string& dir() const { return jobs_dir_; }

 private:
  explicit JobStore(std::string jobs_dir) : jobs_dir_(std::move(jobs_dir)) {}
  std::string PathOf(const std::string& id) const;

  std::string jobs_dir_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_STORE_H_
