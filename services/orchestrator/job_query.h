// Reading jobs through the API: views (BASIC / FULL), the size caps that
// keep every response under 4 MiB, and ListJobs' filter, order and page
// tokens (AIP-132, AIP-158, AIP-160 subset). Pure functions over v1::Job.
#ifndef ARCA_SERVICES_ORCHESTRATOR_JOB_QUERY_H_
#define ARCA_SERVICES_ORCHESTRATOR_JOB_QUERY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arca/v1/orchestrator.pb.h"

namespace arca::services {

// Bytes of warnings (and of verify problems, and of forget decisions) a job
// keeps while it runs and on disk; and what a finished job keeps in memory
// (the full record stays in --state-dir).
inline constexpr size_t kJobListBudgetBytes = 1 << 20;
inline constexpr size_t kFinishedJobMemoryBudgetBytes = 64 << 10;
inline constexpr size_t kMaxStatusMessageBytes = 16 << 10;
// ListJobs: page sizes and the byte cap of one page.
inline constexpr int kDefaultJobPageSize = 50;
inline constexpr int kMaxJobPageSize = 500;
inline constexpr size_t kMaxJobPageBytes = 3584 << 10;  // 3.5 MiB

// The approximate bytes one warning takes in a Job.
size_t WarningBytes(const v1::Warning& w);

// Trims the lists of `job` that grow with the data (verify.problems,
// forget.snapshots; not warnings, which the runner caps as they come) to
// their first `budget` bytes each, and status.message to
// kMaxStatusMessageBytes. warning_count and the response counters keep the
// full numbers.
void TrimJobLists(v1::Job* job, size_t budget);
// Drops warnings beyond the first `budget` bytes.
void TrimWarnings(v1::Job* job, size_t budget);

// The job as `view` shows it (BASIC: the growing lists emptied);
// UNSPECIFIED means `default_view`.
v1::Job JobInView(const v1::Job& job, v1::JobView view, v1::JobView default_view);

// A parsed ListJobsRequest.filter: terms joined by AND.
class JobFilter {
 public:
  // InvalidArgument naming `filter` and what is wrong (unknown field,
  // operator or value, bad time).
  static absl::StatusOr<JobFilter> Parse(const std::string& filter);
  bool Matches(const v1::Job& job) const;

  struct Term {
    std::string
        field;       // state, type, group, snapshot, request_id, labels.KEY, create_time, end_time
    std::string op;  // = != < <= > >= :
    std::string value;  // as given (unquoted)
    int64_t enum_value = 0;
    absl::Time time;
  };

 private:
  std::vector<Term> terms_;
};

// ListJobsRequest.order_by: "" or "create_time" (ascending), "create_time
// desc". InvalidArgument otherwise.
absl::StatusOr<bool> ParseJobOrderDescending(const std::string& order_by);

// Where the next page starts: after the job with this creation time and id
// (in the list's order), for a request with the same filter, order and view.
struct JobPageCursor {
  int64_t create_unix_ns = 0;
  std::string id;
};
std::string EncodeJobPageToken(const JobPageCursor& cursor, const v1::ListJobsRequest& request);
// InvalidArgument when the token is not one of ours or belongs to a request
// with another filter, order_by or view.
absl::StatusOr<JobPageCursor> DecodeJobPageToken(const std::string& token,
                                                 const v1::ListJobsRequest& request);

// The creation time of a job in ns (create_time, else start_unix_ns for
// records of earlier versions).
int64_t JobCreateUnixNs(const v1::Job& job);

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_JOB_QUERY_H_
