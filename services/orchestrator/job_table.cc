#include "services/orchestrator/job_table.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "services/orchestrator/job_id.h"
#include "services/orchestrator/job_query.h"

namespace arca::services {
namespace {

using google::protobuf::util::TimeUtil;

constexpr size_t kMinPrefixChars = 6;

std::string Shown(const std::string& id) {
  return id.size() > 100 ? id.substr(0, 100) + "..." : id;
}

}  // namespace

void JobTable::Load(std::unique_ptr<JobStore> store, size_t max_finished) {
  store_ = std::move(store);
  JobStore::Loaded loaded = store_->Load(absl::ToUnixNanos(absl::Now()));
  for (const std::string& note : loaded.notes) log_(note);
  for (v1::Job& job : loaded.jobs) {
    auto rec = std::make_shared<JobRecord>();
    rec->start = absl::FromUnixNanos(JobCreateUnixNs(job));
    rec->group = job.group();
    rec->done = true;
    rec->job = std::move(job);
    KeepListsAside(*rec, /*on_disk=*/true);
    jobs_[rec->job.id()] = rec;
    if (!rec->job.request_id().empty()) by_request_id_[rec->job.request_id()] = rec;
    order_.push_back(std::move(rec));
  }
  log_(absl::StrCat(loaded.jobs.size(), " job(s) read from ", store_->dir()));
  ForgetFinished(max_finished);  // beyond max_finished_jobs: forgotten, files removed
}

std::shared_ptr<JobRecord> JobTable::Add(v1::JobType type, const std::string& snapshot,
                                         const std::string& request_id) {
  auto rec = std::make_shared<JobRecord>();
  rec->start = absl::Now();
  rec->job.set_id(NewJobId(rec->start));
  rec->job.set_type(type);
  rec->job.set_state(v1::JOB_STATE_PENDING);
  rec->job.set_snapshot(snapshot);
  rec->job.set_request_id(request_id);
  rec->job.set_start_unix_ns(absl::ToUnixNanos(rec->start));
  *rec->job.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(rec->start));
  *rec->job.mutable_update_time() = rec->job.create_time();
  jobs_[rec->job.id()] = rec;
  if (!request_id.empty()) by_request_id_[request_id] = rec;
  order_.push_back(rec);
  return rec;
}

std::shared_ptr<JobRecord> JobTable::FindByRequestId(const std::string& request_id) const {
  if (request_id.empty()) return nullptr;
  auto it = by_request_id_.find(request_id);
  return it == by_request_id_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<JobRecord>> JobTable::Find(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("id is empty: give a job id (see ListJobs)");
  if (auto it = jobs_.find(id); it != jobs_.end()) return it->second;
  const std::string prefix =
      absl::StartsWith(id, kJobIdPrefix) ? id : absl::StrCat(kJobIdPrefix, id);
  std::vector<std::shared_ptr<JobRecord>> found;
  if (prefix.size() >= kJobIdPrefixSize + kMinPrefixChars) {
    for (const auto& r : order_) {
      if (absl::StartsWith(r->job.id(), prefix)) found.push_back(r);
    }
  }
  if (found.size() == 1) return found[0];
  if (found.size() > 1) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < found.size() && i < 5; ++i) ids.push_back(found[i]->job.id());
    return absl::InvalidArgumentError(absl::StrCat(
        "id: '", Shown(id), "' matches ", found.size(), " jobs (", absl::StrJoin(ids, ", "),
        found.size() > 5 ? ", ..." : "", "): give more characters"));
  }
  return absl::NotFoundError(absl::StrCat("no job '", Shown(id),
                                          "': see ListJobs (a short id needs at least ",
                                          kMinPrefixChars, " characters after \"job-\")"));
}

v1::Job JobTable::Full(const JobRecord& rec) const {
  if (rec.trimmed && store_ != nullptr) {
    absl::StatusOr<v1::Job> full = store_->Read(rec.job.id());
    if (full.ok()) return *std::move(full);
    log_(absl::StrCat("job ", rec.job.id(), ": full record unreadable (", full.status().message(),
                      "); answering with the part kept in memory"));
  }
  v1::Job job = rec.job;
  if (!rec.kept_lists.empty()) job.MergeFromString(rec.kept_lists);
  return job;
}

void JobTable::Save(const JobRecord& rec) {
  if (store_ == nullptr) return;
  if (absl::Status st = store_->Save(rec.job); !st.ok()) {
    log_(absl::StrCat("job ", rec.job.id(), ": not recorded in --state-dir: ", st.message()));
  }
}

void JobTable::SaveFinished(JobRecord& rec) {
  Save(rec);
  KeepListsAside(rec, store_ != nullptr);
}

void KeepListsAside(JobRecord& rec, bool on_disk) {
  v1::Job lists;
  lists.mutable_warnings()->Swap(rec.job.mutable_warnings());
  if (rec.job.has_verify() && rec.job.verify().problems_size() > 0) {
    lists.mutable_verify()->mutable_problems()->Swap(rec.job.mutable_verify()->mutable_problems());
  }
  if (rec.job.has_forget() && rec.job.forget().snapshots_size() > 0) {
    lists.mutable_forget()->mutable_snapshots()->Swap(
        rec.job.mutable_forget()->mutable_snapshots());
  }
  const size_t before = lists.ByteSizeLong();
  TrimWarnings(&lists, kFinishedJobMemoryBudgetBytes);
  TrimJobLists(&lists, kFinishedJobMemoryBudgetBytes);
  rec.trimmed = on_disk && lists.ByteSizeLong() != before;
  rec.kept_lists = lists.SerializeAsString();
  rec.kept_lists.shrink_to_fit();
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
      const std::string& request_id = (*it)->job.request_id();
      if (auto r = by_request_id_.find(request_id); r != by_request_id_.end() && r->second == *it) {
        by_request_id_.erase(r);
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
