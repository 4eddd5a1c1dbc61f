#include "services/orchestrator/job_table.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace arca::services {

void JobTable::Load(std::unique_ptr<JobStore> store, size_t max_finished) {
  store_ = std::move(store);
  JobStore::Loaded loaded = store_->Load(absl::ToUnixNanos(absl::Now()));
  for (const std::string& note : loaded.notes) log_(note);
  for (v1::Job& job : loaded.jobs) {
    auto rec = std::make_shared<JobRecord>();
    rec->start = absl::FromUnixNanos(job.start_unix_ns());
    rec->group = job.group();
    rec->done = true;
    next_id_ = std::max<uint64_t>(next_id_, JobNumber(job.id()) + 1);
    rec->job = std::move(job);
    jobs_[rec->job.id()] = rec;
    order_.push_back(std::move(rec));
  }
  log_(absl::StrCat(loaded.jobs.size(), " job(s) read from ", store_->dir(), "; the next is job-",
                    absl::StrFormat("%06d", next_id_)));
  ForgetFinished(max_finished);  // beyond max_finished_jobs: forgotten, files removed
}

std::shared_ptr<JobRecord> JobTable::Add(v1::JobType type, const std::string& snapshot) {
  auto rec = std::make_shared<JobRecord>();
  rec->start = absl::Now();
  rec->job.set_id(absl::StrFormat("job-%06d", next_id_++));
  rec->job.set_type(type);
  rec->job.set_state(v1::JOB_STATE_PENDING);
  rec->job.set_snapshot(snapshot);
  rec->job.set_start_unix_ns(absl::ToUnixNanos(rec->start));
  jobs_[rec->job.id()] = rec;
  order_.push_back(rec);
  return rec;
}

absl::StatusOr<std::shared_ptr<JobRecord>> JobTable::Find(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("id is empty: give a job id (see ListJobs)");
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no job '", id.size() > 100 ? id.substr(0, 100) + "..." : id, "': see ListJobs"));
  }
  return it->second;
}

void JobTable::Save(const JobRecord& rec) {
  if (store_ == nullptr) return;
  if (absl::Status st = store_->Save(rec.job); !st.ok()) {
    log_(absl::StrCat("job ", rec.job.id(), ": not recorded in --state-dir: ", st.message()));
  }
}

void JobTable::ForgetFinished(size_t max_finished) {
  size_t finished = 0;
  for (const auto& r : order_) finished += r->done ? 1 : 0;
  for (auto it = order_.begin(); finished > max_finished && it != order_.end();) {
    if ((*it)->done) {
      if (store_ != nullptr) {
        absl::Status st = store_->Remove((*it)->job.id());
        if (!st.ok()) log_(std::string(st.message()));
      }
      jobs_.erase((*it)->job.id());
      it = order_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

}  // namespace arca::services
