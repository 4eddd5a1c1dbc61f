#include "services/orchestrator/job_manager.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/backup_plan.h"
#include "libs/rpc/status_convert.h"
#include "libs/store/forget.h"
#include "libs/store/repository.h"
#include "libs/store/retention.h"
#include "services/common/server.h"
#include "services/orchestrator/job_query.h"
#include "services/orchestrator/job_requests.h"

namespace arca::services {

namespace {

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status Need(const std::vector<std::string>& list, const char* flag, const char* what) {
  if (list.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("the orchestrator has no ", what,
                                                      ": start it with ", flag, "=ADDR[,ADDR...]"));
  }
  return absl::OkStatus();
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(OrchestratorOptions options) {
  std::unique_ptr<JobManager> m(new JobManager(std::move(options)));
  m->default_host_ = m->options_.host.empty() ? HostName() : m->options_.host;
  auto channels = [&](const std::vector<std::string>& list, const char* what,
                      std::vector<std::shared_ptr<grpc::Channel>>* out) -> absl::Status {
    for (const std::string& a : list) {
      if (a.empty()) return Bad(absl::StrCat("an empty ", what, " address"));
      ClientTlsFlags tls = m->options_.client_tls;
      tls.server_role = RoleFromName(what);  // the phase must prove its role
      absl::StatusOr<std::shared_ptr<grpc::Channel>> c = MakeChannel(a, tls);
      if (!c.ok()) return c.status();
      out->push_back(*std::move(c));
    }
    return absl::OkStatus();
  };
  if (absl::Status st = channels(m->options_.collectors, "collector", &m->collector_channels_);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = channels(m->options_.chunkers, "chunker", &m->chunker_channels_);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = channels(m->options_.uploaders, "uploader", &m->uploader_channels_);
      !st.ok()) {
    return st;
  }
  for (const std::string& a : m->options_.compressors) {
    if (a.empty()) return Bad("an empty compressor address");
  }
  if (!m->options_.state_dir.empty()) {
    absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(m->options_.state_dir);
    if (!store.ok()) return store.status();
    absl::MutexLock lock(&m->mu_);
    m->table_.Load(*std::move(store), m->options_.max_finished_jobs);
  }
  OrchestratorServiceMetrics();  // every series exists (at 0) from the start
  if (m->options_.seed_last_success && !m->uploader_channels_.empty()) {
    JobManager* manager = m.get();
    m->seed_thread_ = std::thread([manager] { manager->SeedLastSuccess(); });
  }
  return m;
}

void JobManager::SeedLastSuccess() {
  bool logged = false;
  for (uint64_t attempt = 0;; ++attempt) {
    const size_t i = attempt % uploader_channels_.size();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_) return;
      seed_call_ = &ctx;
    }
    auto stub = v1::Uploader::NewStub(uploader_channels_[i]);
    v1::ListSnapshotsResponse response;
    absl::Status st =
        rpc::FromGrpcStatus(stub->ListSnapshots(&ctx, v1::ListSnapshotsRequest(), &response));
    {
      absl::MutexLock lock(&mu_);
      seed_call_ = nullptr;
    }
    if (st.ok()) {
      const size_t groups = NoteNewestSnapshots(response);
      Log(absl::StrCat("last successful backup of ", groups, " group(s) read from uploader ",
                       options_.uploaders[i]));
      return;
    }
    if (!logged) {
      Log(absl::StrCat("cannot read the last successful backups yet (uploader ",
                       options_.uploaders[i], ": ", st.message(), "); retrying every ",
                       absl::FormatDuration(options_.seed_retry)));
      logged = true;
    }
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.seed_retry)) return;
  }
}

JobManager::~JobManager() { Shutdown(); }

void JobManager::Shutdown() {
  std::vector<std::pair<std::shared_ptr<JobRecord>, std::thread>> threads;
  {
    absl::MutexLock lock(&mu_);
    const bool first = !shutting_down_;
    shutting_down_ = true;
    if (first && (running_ > 0 || !queue_.empty())) {
      Log(absl::StrCat("shutting down: ending ", running_, " running and ", queue_.size(),
                       " queued job(s)"));
    }
    // Queued jobs never started: they end now. Running ones end when their
    // cancelled call returns (their thread calls Finish).
    while (!queue_.empty()) {
      std::shared_ptr<JobRecord> rec = queue_.front();
      queue_.pop_front();
      rec->shutdown = true;
      FinishLocked(rec, absl::UnavailableError("the orchestrator shut down"), v1::PHASE_UNSPECIFIED,
                   nullptr, nullptr);
    }
    for (const std::shared_ptr<JobRecord>& rec : table_.records()) {
      if (!rec->done) {
        rec->shutdown = true;
        rec->cancel_requested = true;
        if (rec->call != nullptr) rec->call->TryCancel();
      }
    }
    if (seed_call_ != nullptr) seed_call_->TryCancel();
    threads.swap(threads_);
  }
  for (auto& [rec, t] : threads) t.join();
  if (seed_thread_.joinable()) seed_thread_.join();
}

void JobManager::Log(const std::string& message) const { LogLine(options_.program, message); }

std::shared_ptr<grpc::Channel> JobManager::Pick(
    const std::vector<std::shared_ptr<grpc::Channel>>& list, std::atomic<uint64_t>* next,
    size_t* index) {
  *index = static_cast<size_t>(next->fetch_add(1) % list.size());
  return list[*index];
}

absl::StatusOr<v1::Job> JobManager::StartBackup(const v1::StartBackupRequest& request) {
  if (absl::Status st = ValidateBackupRequest(request); !st.ok()) return st;
  v1::BackupPlan plan;
  plan.set_source(request.source());
  *plan.mutable_excludes() = request.excludes();
  plan.set_one_file_system(request.one_file_system());
  *plan.mutable_commands() = request.commands();
  plan.set_codec(request.codec());
  plan.set_level(request.level());
  plan.set_host(request.host().empty() ? default_host_ : request.host());
  plan.set_metadata_change_detection(!request.change_detection_data());
  plan.set_parent(request.parent());
  plan.set_ignore_ctime(request.ignore_ctime());
  plan.set_space_safety_factor(request.space_safety_factor());
  plan.set_skip_space_check(request.skip_space_check());
  *plan.mutable_labels() = request.labels();
  if (absl::Status st = CheckBackupPlan(plan, PlanFieldNames::kRequest); !st.ok()) {
    return absl::InvalidArgumentError(st.message());
  }
  if (absl::Status st = Need(options_.chunkers, "--chunker", "chunker"); !st.ok()) return st;
  if (absl::Status st = Need(options_.collectors, "--collector", "collector"); !st.ok()) return st;
  if (absl::Status st = Need(options_.compressors, "--compressor", "compressor"); !st.ok()) {
    return st;
  }
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t collector = 0, chunker = 0;
  if (absl::Status st = PickCollector(request.collector(), &collector); !st.ok()) return st;
  Pick(chunker_channels_, &next_chunker_, &chunker);
  plan.set_collector(options_.collectors[collector]);
  for (const std::string& a : options_.compressors) plan.add_compressors(a);
  for (const std::string& a : options_.uploaders) plan.add_uploaders(a);

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  if (std::optional<v1::Job> job = Replay(request.request_id())) return *job;
  ReapThreads();
  std::shared_ptr<JobRecord> rec = table_.Add(v1::JOB_TYPE_BACKUP, "", request.request_id());
  rec->group = Repository::GroupName(plan.host(), plan.source());
  rec->job.set_group(rec->group);
  *rec->job.mutable_labels() = request.labels();
  plan.set_job_id(rec->job.id());
  Log(absl::StrCat("job ", rec->job.id(), ": backup of ", plan.host(), ":", plan.source(),
                   " on chunker ", options_.chunkers[chunker], ", collector ", plan.collector()));
  Launch(rec, [this, rec, chunker, plan] { RunBackupJob(rec, chunker, plan); });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartRestore(const v1::StartRestoreRequest& request) {
  if (absl::Status st = ValidateRestoreRequest(request); !st.ok()) return st;
  if (absl::Status st = Need(options_.chunkers, "--chunker", "chunker"); !st.ok()) return st;
  if (absl::Status st = Need(options_.collectors, "--collector", "collector"); !st.ok()) return st;
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t collector = 0, chunker = 0;
  if (absl::Status st = PickCollector(request.collector(), &collector); !st.ok()) return st;
  Pick(chunker_channels_, &next_chunker_, &chunker);
  v1::RestorePlan plan;
  plan.set_snapshot(request.snapshot());
  plan.set_target(request.target());
  *plan.mutable_includes() = request.includes();
  plan.set_overwrite(request.overwrite());
  plan.set_delete_extraneous(request.delete_extraneous());
  plan.set_collector(options_.collectors[collector]);
  for (const std::string& a : options_.compressors) plan.add_compressors(a);
  for (const std::string& a : options_.uploaders) plan.add_uploaders(a);

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  if (std::optional<v1::Job> job = Replay(request.request_id())) return *job;
  ReapThreads();
  std::shared_ptr<JobRecord> rec =
      table_.Add(v1::JOB_TYPE_RESTORE, request.snapshot(), request.request_id());
  plan.set_job_id(rec->job.id());
  Log(absl::StrCat("job ", rec->job.id(), ": restore of ", plan.snapshot(), " to ", plan.target(),
                   " on chunker ", options_.chunkers[chunker]));
  Launch(rec, [this, rec, chunker, plan] { RunRestoreJob(rec, chunker, plan); });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartVerify(const v1::StartVerifyRequest& request) {
  if (absl::Status st = ValidateVerifyRequest(request); !st.ok()) return st;
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t uploader = 0;
  Pick(uploader_channels_, &next_uploader_, &uploader);
  v1::VerifyRequest verify;
  verify.set_snapshot(request.snapshot());
  verify.set_workers(request.workers());

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  if (std::optional<v1::Job> job = Replay(request.request_id())) return *job;
  ReapThreads();
  std::shared_ptr<JobRecord> rec =
      table_.Add(v1::JOB_TYPE_VERIFY, request.snapshot(), request.request_id());
  Log(absl::StrCat("job ", rec->job.id(), ": verify of ",
                   request.snapshot().empty() ? "every snapshot" : request.snapshot(),
                   " on uploader ", options_.uploaders[uploader]));
  Launch(rec, [this, rec, uploader, verify] { RunVerifyJob(rec, uploader, verify); });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartForget(const v1::StartForgetRequest& request) {
  if (absl::Status st = ValidateForgetRequest(request); !st.ok()) return st;
  // The uploader's own rules, so that a bad policy creates no job.
  if (absl::StatusOr<RetentionPolicy> p = PolicyFromProto(request.policy()); !p.ok()) {
    return absl::InvalidArgumentError(p.status().message());
  }
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t uploader = 0;
  Pick(uploader_channels_, &next_uploader_, &uploader);
  v1::ForgetRequest forget;
  forget.set_group(request.group());
  *forget.mutable_policy() = request.policy();
  forget.set_dry_run(request.dry_run());
  *forget.mutable_labels() = request.labels();
  std::optional<v1::GcRequest> gc;
  if (request.prune()) {
    gc.emplace();
    gc->set_clock_slack_seconds(request.clock_slack_seconds());
  }

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  if (std::optional<v1::Job> job = Replay(request.request_id())) return *job;
  ReapThreads();
  std::shared_ptr<JobRecord> rec = table_.Add(v1::JOB_TYPE_FORGET, "", request.request_id());
  Log(absl::StrCat("job ", rec->job.id(), ": forget",
                   request.group().empty() ? "" : " in group " + request.group(),
                   request.prune() ? " and prune" : "", " on uploader ",
                   options_.uploaders[uploader]));
  Launch(rec, [this, rec, uploader, forget, gc] { RunMaintenanceJob(rec, uploader, forget, gc); });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartGc(const v1::StartGcRequest& request) {
  if (absl::Status st = ValidateGcRequest(request); !st.ok()) return st;
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t uploader = 0;
  Pick(uploader_channels_, &next_uploader_, &uploader);
  v1::GcRequest gc;
  gc.set_dry_run(request.dry_run());
  gc.set_stale_lock_minutes(request.stale_lock_minutes());
  gc.set_clock_slack_seconds(request.clock_slack_seconds());

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  if (std::optional<v1::Job> job = Replay(request.request_id())) return *job;
  ReapThreads();
  std::shared_ptr<JobRecord> rec = table_.Add(v1::JOB_TYPE_GC, "", request.request_id());
  Log(absl::StrCat("job ", rec->job.id(), ": gc", request.dry_run() ? " (dry run)" : "",
                   " on uploader ", options_.uploaders[uploader]));
  Launch(rec, [this, rec, uploader, gc] { RunMaintenanceJob(rec, uploader, std::nullopt, gc); });
  return rec->job;
}

absl::Status JobManager::PickCollector(const std::string& requested, size_t* index) {
  if (requested.empty()) {
    Pick(collector_channels_, &next_collector_, index);
    return absl::OkStatus();
  }
  for (size_t i = 0; i < options_.collectors.size(); ++i) {
    if (options_.collectors[i] == requested) {
      *index = i;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "collector '", requested, "' is not one of this orchestrator's --collector addresses (",
      absl::StrJoin(options_.collectors, ", "), "): name one of them, or none for round robin"));
}

std::optional<v1::Job> JobManager::Replay(const std::string& request_id) const {
  std::shared_ptr<JobRecord> rec = table_.FindByRequestId(request_id);
  if (rec == nullptr) return std::nullopt;
  Log(absl::StrCat("request_id ", request_id, " again: answering with job ", rec->job.id()));
  return table_.Full(*rec);
}

absl::StatusOr<v1::Job> JobManager::GetJob(const std::string& id, v1::JobView view) const {
  if (!v1::JobView_IsValid(view)) {
    return Bad(absl::StrCat("view ", static_cast<int>(view), " is not a JobView"));
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<JobRecord>> rec = table_.Find(id);
  if (!rec.ok()) return rec.status();
  if (view == v1::JOB_VIEW_BASIC) return JobInView((*rec)->job, view, view);
  return table_.Full(**rec);
}

absl::StatusOr<v1::ListJobsResponse> JobManager::ListJobs(
    const v1::ListJobsRequest& request) const {
  if (request.page_size() < 0) {
    return Bad(absl::StrCat("page_size ", request.page_size(), " is negative: use 0..",
                            kMaxJobPageSize, " (0 = ", kDefaultJobPageSize, ")"));
  }
  const int page_size = request.page_size() == 0 ? kDefaultJobPageSize
                                                 : std::min(request.page_size(), kMaxJobPageSize);
  absl::StatusOr<JobFilter> filter = JobFilter::Parse(request.filter());
  if (!filter.ok()) return filter.status();
  absl::StatusOr<bool> descending = ParseJobOrderDescending(request.order_by());
  if (!descending.ok()) return descending.status();
  if (request.view() != v1::JOB_VIEW_UNSPECIFIED && request.view() != v1::JOB_VIEW_BASIC &&
      request.view() != v1::JOB_VIEW_FULL) {
    return Bad(absl::StrCat("view ", static_cast<int>(request.view()), " is not a JobView"));
  }
  std::optional<JobPageCursor> cursor;
  if (!request.page_token().empty()) {
    absl::StatusOr<JobPageCursor> c = DecodeJobPageToken(request.page_token(), request);
    if (!c.ok()) return c.status();
    cursor = *c;
  }
  using Key = std::pair<int64_t, std::string>;
  auto after_cursor = [&](const Key& k) {
    if (!cursor) return true;
    const Key c{cursor->create_unix_ns, cursor->id};
    return *descending ? k < c : c < k;
  };
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::pair<Key, const JobRecord*>> matching;
  for (const auto& r : table_.records()) {
    if (filter->Matches(r->job)) {
      matching.push_back({Key{JobCreateUnixNs(r->job), r->job.id()}, r.get()});
    }
  }
  std::sort(matching.begin(), matching.end(), [&](const auto& a, const auto& b) {
    return *descending ? b.first < a.first : a.first < b.first;
  });
  v1::ListJobsResponse response;
  response.set_total_size(static_cast<int32_t>(matching.size()));
  size_t bytes = 0;
  for (size_t i = 0; i < matching.size(); ++i) {
    const auto& [key, rec] = matching[i];
    if (!after_cursor(key)) continue;
    if (response.jobs_size() == page_size) {
      response.set_next_page_token(
          EncodeJobPageToken({matching[i - 1].first.first, matching[i - 1].first.second}, request));
      break;
    }
    v1::Job job = request.view() == v1::JOB_VIEW_FULL
                      ? table_.Full(*rec)
                      : JobInView(rec->job, v1::JOB_VIEW_BASIC, v1::JOB_VIEW_BASIC);
    const size_t size = job.ByteSizeLong();
    if (response.jobs_size() > 0 && bytes + size > kMaxJobPageBytes) {
      response.set_next_page_token(
          EncodeJobPageToken({matching[i - 1].first.first, matching[i - 1].first.second}, request));
      break;
    }
    bytes += size;
    *response.add_jobs() = std::move(job);
  }
  return response;
}

absl::StatusOr<v1::Job> JobManager::CancelJob(const std::string& id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<JobRecord>> rec = table_.Find(id);
  if (!rec.ok()) return rec.status();
  JobRecord& r = **rec;
  if (r.done || r.cancel_requested) return table_.Full(r);
  r.cancel_requested = true;
  Log(absl::StrCat("job ", r.job.id(), ": cancel requested"));
  if (r.queued) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->get() == &r) {
        queue_.erase(it);
        break;
      }
    }
    FinishLocked(*rec, absl::CancelledError("cancelled while queued"), v1::PHASE_UNSPECIFIED,
                 nullptr, nullptr);
  } else if (r.call != nullptr) {
    r.call->TryCancel();
  }
  return r.job;
}

absl::StatusOr<std::unique_ptr<JobWatch>> JobManager::Watch(const std::string& id,
                                                            uint64_t after_sequence) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<JobRecord>> rec = table_.Find(id);
  if (!rec.ok()) return rec.status();
  JobRecord& r = **rec;
  auto state = std::make_shared<WatchQueue>();
  if (r.done) {
    state->final_job = table_.Full(r);
    state->final_sequence = r.last_sequence;
  } else {
    for (const v1::JobEvent& e : r.recent) {
      if (e.sequence() <= after_sequence) continue;
      if (state->queue.size() >= options_.watch_queue) break;
      state->queue.push_back(e);
    }
    r.watchers.push_back(state);
  }
  return std::make_unique<JobWatch>(&mu_, std::move(state),
                                    [this](WatchQueue* queue) { Unsubscribe(queue); });
}

void JobManager::Unsubscribe(WatchQueue* queue) {
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<JobRecord>& rec : table_.records()) {
    auto& ws = rec->watchers;
    for (auto it = ws.begin(); it != ws.end(); ++it) {
      if (it->get() == queue) {
        ws.erase(it);
        return;
      }
    }
  }
}

absl::StatusOr<v1::ListSnapshotsResponse> JobManager::ListSnapshots(
    const v1::ListSnapshotsRequest& request) {
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  if (request.group().size() > kMaxRequestPathBytes) return Bad("group is too long");
  if (request.page_size() < 0) return Bad("page_size is negative: use 0..1000 (0 = 100)");
  v1::ListSnapshotsRequest paged = request;
  paged.set_page_size(request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000));
  v1::ListSnapshotsResponse response;
  RETURN_IF_ERROR(
      CallAnyUploader("ListSnapshots", [&](v1::Uploader::Stub& stub, grpc::ClientContext* ctx) {
        return stub.ListSnapshots(ctx, paged, &response);
      }));
  return response;
}

absl::StatusOr<v1::GetSnapshotResponse> JobManager::GetSnapshot(
    const v1::GetSnapshotRequest& request) {
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  if (request.id().empty()) {
    return Bad(
        "id is empty: give a snapshot id (see ListSnapshots), \"latest\" or "
        "\"GROUP/latest\"");
  }
  if (request.id().size() > kMaxRequestPathBytes) return Bad("id is too long");
  v1::GetSnapshotRequest manifest_only = request;
  manifest_only.set_manifest_only(true);
  v1::GetSnapshotResponse response;
  RETURN_IF_ERROR(
      CallAnyUploader("GetSnapshot", [&](v1::Uploader::Stub& stub, grpc::ClientContext* ctx) {
        return stub.GetSnapshot(ctx, manifest_only, &response);
      }));
  response.clear_metadata_index();  // an uploader of an earlier version sends them
  response.clear_payload_index();
  return response;
}

absl::Status JobManager::CallAnyUploader(
    const char* what,
    const std::function<grpc::Status(v1::Uploader::Stub&, grpc::ClientContext*)>& call) {
  absl::Status last;
  for (size_t i = 0; i < uploader_channels_.size(); ++i) {
    auto stub = v1::Uploader::NewStub(uploader_channels_[i]);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    absl::Status st = rpc::FromGrpcStatus(call(*stub, &ctx));
    if (st.ok()) return st;
    // The uploader's phase (error details) is kept with the added context.
    last = WithMessage(
        st, absl::StrCat(what, " on uploader ", options_.uploaders[i], ": ", st.message()));
    if (!absl::IsUnavailable(st) && !absl::IsDeadlineExceeded(st)) return last;
  }
  return last;
}

bool JobManager::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0 && queue_.empty(); };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

}  // namespace arca::services
