#include "services/orchestrator/job_manager.h"

#include <unistd.h>

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/base/exit_codes.h"
#include "libs/base/phase_status.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/registry.h"
#include "libs/pipeline/commands.h"
#include "libs/rpc/status_convert.h"
#include "libs/store/repository.h"
#include "services/common/server.h"

namespace arca::services {

// Per-watcher state, guarded by JobManager::mu_.
struct JobWatch::State {
  std::deque<v1::JobEvent> queue;
  std::optional<v1::Job> final_job;
  bool final_returned = false;
  uint64_t dropped = 0;
};

struct JobManager::Record {
  v1::Job job;
  std::string group;  // backups: GroupName(host, source)
  absl::Time start;
  bool cancel_requested = false;
  bool done = false;                    // final state reached
  grpc::ClientContext* call = nullptr;  // the call in flight, for CancelJob
  std::vector<std::shared_ptr<JobWatch::State>> watchers;
};

namespace {

constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxListItems = 10000;
constexpr int kMaxWorkers = 256;
constexpr size_t kMaxJobWarnings = 10000;

bool Ended(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS ||
         s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELLED;
}

// The `type` label of a job (JobOutcome::type, JobMetrics::Running).
const char* TypeLabel(v1::JobType type) {
  switch (type) {
    case v1::JOB_TYPE_BACKUP:
      return "backup";
    case v1::JOB_TYPE_RESTORE:
      return "restore";
    case v1::JOB_TYPE_VERIFY:
      return "verify";
    default:
      return "other";
  }
}

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status CheckPath(const char* field, const std::string& path, const char* what) {
  if (path.empty()) return Bad(absl::StrCat(field, " is empty: give ", what));
  if (path.size() > kMaxPathBytes) {
    return Bad(absl::StrCat(field, " is ", path.size(), " bytes long: at most ", kMaxPathBytes));
  }
  if (path[0] != '/') {
    return Bad(absl::StrCat(field, " '", path, "' is not absolute: give ", what));
  }
  if (path.find('\0') != std::string::npos) return Bad(absl::StrCat(field, " contains a NUL byte"));
  return absl::OkStatus();
}

absl::Status CheckPatterns(const char* field, const std::vector<std::string>& patterns) {
  if (patterns.size() > kMaxListItems) {
    return Bad(absl::StrCat(field, ": ", patterns.size(), " patterns, at most ", kMaxListItems));
  }
  absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(patterns);
  if (!m.ok()) return Bad(absl::StrCat(field, ": ", m.status().message()));
  return absl::OkStatus();
}

absl::Status ValidateBackup(const v1::StartBackupRequest& r) {
  if (absl::Status st =
          CheckPath("source", r.source(), "the absolute path of the tree on the collector's node");
      !st.ok()) {
    return st;
  }
  std::vector<std::string> excludes(r.excludes().begin(), r.excludes().end());
  if (absl::Status st = CheckPatterns("excludes", excludes); !st.ok()) return st;
  const int codec = static_cast<int>(r.codec());
  if (codec != v1::CODEC_UNSPECIFIED && codec != v1::CODEC_NONE && codec != v1::CODEC_ZSTD &&
      codec != v1::CODEC_XZ) {
    return Bad(absl::StrCat("codec ", codec,
                            " is unknown: use zstd, xz, none or unspecified "
                            "(the repository's default)"));
  }
  if (r.level() < 0) {
    return Bad(absl::StrCat("level ", r.level(),
                            " is negative: use 0 (the codec's default) or a "
                            "level the codec takes"));
  }
  if (r.level() != 0) {
    // Without a codec the repository's default codec applies; zstd's range
    // (1..22) is the widest, the chunker checks the final choice.
    const Codec c = codec == v1::CODEC_UNSPECIFIED ? Codec::kZstd : static_cast<Codec>(codec);
    if (absl::Status st = ValidateLevel(c, r.level()); !st.ok()) {
      return Bad(absl::StrCat("level: ", st.message()));
    }
  }
  if (r.space_safety_factor() != 0 &&
      !(r.space_safety_factor() >= 1.0 && r.space_safety_factor() <= 100)) {
    return Bad(absl::StrCat("space_safety_factor ", r.space_safety_factor(),
                            " must be 0 (default) or between 1 and 100"));
  }
  if (!r.group().empty()) {
    return Bad(
        "group is not supported in distributed mode: the snapshot group is derived from "
        "host and source (set host instead)");
  }
  if (r.change_detection_data() && !r.parent().empty()) {
    return Bad("parent needs metadata change detection: drop change_detection_data or parent");
  }
  if (r.parent().size() > kMaxPathBytes) return Bad("parent is too long");
  if (r.host().size() > 255) return Bad("host is longer than 255 bytes");
  if (r.commands_size() > 100) return Bad("more than 100 commands");
  absl::flat_hash_set<std::string> names;
  for (const v1::Command& c : r.commands()) {
    // Names only: the collector takes the command line from its
    // --commands-file (and refuses a request that carries one).
    if (absl::Status st = ValidateCommandName(c.name()); !st.ok()) {
      return Bad(absl::StrCat("commands: ", st.message()));
    }
    if (!names.insert(c.name()).second) {
      return Bad(absl::StrCat("commands: the name '", c.name(), "' is used twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRestore(const v1::StartRestoreRequest& r) {
  if (r.snapshot().empty()) {
    return Bad("snapshot is empty: give a snapshot id (see ListSnapshots) or \"latest\"");
  }
  if (r.snapshot().size() > kMaxPathBytes) return Bad("snapshot is too long");
  if (absl::Status st = CheckPath("target", r.target(),
                                  "the absolute path of the directory on the collector's node");
      !st.ok()) {
    return st;
  }
  std::vector<std::string> includes(r.includes().begin(), r.includes().end());
  return CheckPatterns("includes", includes);
}

absl::Status ValidateVerify(const v1::StartVerifyRequest& r) {
  if (r.snapshot().size() > kMaxPathBytes) return Bad("snapshot is too long");
  if (r.workers() < 0 || r.workers() > kMaxWorkers) {
    return Bad(absl::StrCat("workers ", r.workers(), " is out of range: use 0..", kMaxWorkers,
                            " (0 = the uploader's cores)"));
  }
  return absl::OkStatus();
}

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

v1::JobStatus JobStatusOf(const absl::Status& status, v1::Phase transport_phase,
                          bool cancel_requested) {
  v1::JobStatus out;
  if (status.ok()) {
    out.set_exit_code(v1::EXIT_CODE_SUCCESS);
    return out;
  }
  out.set_grpc_code(static_cast<int>(status.code()));
  out.set_message(std::string(status.message()));
  if (cancel_requested) {
    out.set_message(
        status.code() == absl::StatusCode::kCancelled
            ? "cancelled (CancelJob)"
            : absl::StrCat("cancelled (CancelJob); the stage ended with: ", status.message()));
    out.set_failed_phase(PhaseOf(status));
    out.set_exit_code(v1::EXIT_CODE_CANCELLED);
    out.set_grpc_code(static_cast<int>(absl::StatusCode::kCancelled));
    return out;
  }
  // The exit-code policy: libs/base/phase_status.h.
  out.set_failed_phase(FailedPhaseOf(status, transport_phase));
  out.set_exit_code(static_cast<v1::ExitCode>(ExitCodeOf(status, transport_phase)));
  return out;
}

// --- JobWatch ---------------------------------------------------------------------

JobWatch::~JobWatch() { manager_->Unsubscribe(state_.get()); }

std::optional<v1::JobEvent> JobWatch::Next(absl::Duration timeout) {
  if (finished_) return std::nullopt;
  absl::MutexLock lock(&manager_->mu_);
  State* s = state_.get();
  auto ready = [s] { return !s->queue.empty() || s->final_job.has_value(); };
  manager_->mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (!s->queue.empty()) {
    v1::JobEvent e = std::move(s->queue.front());
    s->queue.pop_front();
    return e;
  }
  if (s->final_job) {
    v1::JobEvent e;
    *e.mutable_final() = *s->final_job;
    s->final_returned = true;
    finished_ = true;
    return e;
  }
  return std::nullopt;
}

// --- JobManager ---------------------------------------------------------------------

metrics::OrchestratorMetrics& OrchestratorServiceMetrics() {
  // One catalog per process, never destroyed (like the registry).
  static metrics::OrchestratorMetrics* const m =
      new metrics::OrchestratorMetrics(*metrics::ProcessRegistry());
  return *m;
}

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
    m->store_ = *std::move(store);
    absl::MutexLock lock(&m->mu_);
    m->LoadJobs();
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
      absl::flat_hash_map<std::string, int64_t> newest;  // group → time_unix_ns
      for (const v1::SnapshotInfo& info : response.snapshots()) {
        if (info.group().empty()) continue;
        int64_t& t = newest[info.group()];
        t = std::max(t, info.time_unix_ns());
      }
      for (const auto& [group, ns] : newest) {
        const auto since_epoch = std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(ns));
        metrics::NoteLastSuccess(OrchestratorServiceMetrics().jobs, group,
                                 std::chrono::system_clock::time_point(since_epoch));
      }
      Log(absl::StrCat("last successful backup of ", newest.size(), " group(s) read from uploader ",
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

JobManager::~JobManager() {
  std::vector<std::pair<std::shared_ptr<Record>, std::thread>> threads;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [id, rec] : jobs_) {
      if (!rec->done) {
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

std::shared_ptr<JobManager::Record> JobManager::NewJob(v1::JobType type,
                                                       const std::string& snapshot) {
  auto rec = std::make_shared<Record>();
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
  size_t finished = 0;
  for (const auto& r : order_) finished += r->done ? 1 : 0;
  for (auto it = order_.begin(); finished > options_.max_finished_jobs && it != order_.end();) {
    if ((*it)->done) {
      if (store_ != nullptr) {
        absl::Status st = store_->Remove((*it)->job.id());
        if (!st.ok()) Log(std::string(st.message()));
      }
      jobs_.erase((*it)->job.id());
      it = order_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

void JobManager::LoadJobs() {
  JobStore::Loaded loaded = store_->Load(absl::ToUnixNanos(absl::Now()));
  for (const std::string& note : loaded.notes) Log(note);
  for (v1::Job& job : loaded.jobs) {
    auto rec = std::make_shared<Record>();
    rec->start = absl::FromUnixNanos(job.start_unix_ns());
    rec->group = job.group();
    rec->done = true;
    next_id_ = std::max<uint64_t>(next_id_, JobNumber(job.id()) + 1);
    rec->job = std::move(job);
    jobs_[rec->job.id()] = rec;
    order_.push_back(std::move(rec));
  }
  Log(absl::StrCat(loaded.jobs.size(), " job(s) read from ", store_->dir(), "; the next is job-",
                   absl::StrFormat("%06d", next_id_)));
  ReapThreads();  // beyond max_finished_jobs: forgotten, files removed
}

void JobManager::SaveJob(const Record& rec) {
  if (store_ == nullptr) return;
  if (absl::Status st = store_->Save(rec.job); !st.ok()) {
    Log(absl::StrCat("job ", rec.job.id(), ": not recorded in --state-dir: ", st.message()));
  }
}

void JobManager::Launch(std::shared_ptr<Record> rec, std::function<void()> body) {
  SaveJob(*rec);
  ++running_;
  OrchestratorServiceMetrics().jobs.Running(TypeLabel(rec->job.type())).Increment();
  threads_.emplace_back(rec, std::thread(std::move(body)));
}

absl::StatusOr<v1::Job> JobManager::StartBackup(const v1::StartBackupRequest& request) {
  if (absl::Status st = ValidateBackup(request); !st.ok()) return st;
  if (absl::Status st = Need(options_.chunkers, "--chunker", "chunker"); !st.ok()) return st;
  if (absl::Status st = Need(options_.collectors, "--collector", "collector"); !st.ok()) return st;
  if (absl::Status st = Need(options_.compressors, "--compressor", "compressor"); !st.ok()) {
    return st;
  }
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t collector = 0, chunker = 0;
  if (absl::Status st = PickCollector(request.collector(), &collector); !st.ok()) return st;
  Pick(chunker_channels_, &next_chunker_, &chunker);
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
  plan.set_collector(options_.collectors[collector]);
  for (const std::string& a : options_.compressors) plan.add_compressors(a);
  for (const std::string& a : options_.uploaders) plan.add_uploaders(a);

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  ReapThreads();
  std::shared_ptr<Record> rec = NewJob(v1::JOB_TYPE_BACKUP, "");
  rec->group = Repository::GroupName(plan.host(), plan.source());
  rec->job.set_group(rec->group);
  plan.set_job_id(rec->job.id());
  Log(absl::StrCat("job ", rec->job.id(), ": backup of ", plan.host(), ":", plan.source(),
                   " on chunker ", options_.chunkers[chunker], ", collector ", plan.collector()));
  Launch(rec, [this, rec, chunker, plan] {
    RunChunkerJob(rec, chunker, plan, &v1::Chunker::Stub::RunBackup, v1::PHASE_ARCHIVE);
  });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartRestore(const v1::StartRestoreRequest& request) {
  if (absl::Status st = ValidateRestore(request); !st.ok()) return st;
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
  plan.set_collector(options_.collectors[collector]);
  for (const std::string& a : options_.compressors) plan.add_compressors(a);
  for (const std::string& a : options_.uploaders) plan.add_uploaders(a);

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  ReapThreads();
  std::shared_ptr<Record> rec = NewJob(v1::JOB_TYPE_RESTORE, request.snapshot());
  plan.set_job_id(rec->job.id());
  Log(absl::StrCat("job ", rec->job.id(), ": restore of ", plan.snapshot(), " to ", plan.target(),
                   " on chunker ", options_.chunkers[chunker]));
  Launch(rec, [this, rec, chunker, plan] {
    RunChunkerJob(rec, chunker, plan, &v1::Chunker::Stub::RunRestore, v1::PHASE_RESTORE);
  });
  return rec->job;
}

absl::StatusOr<v1::Job> JobManager::StartVerify(const v1::StartVerifyRequest& request) {
  if (absl::Status st = ValidateVerify(request); !st.ok()) return st;
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  size_t uploader = 0;
  Pick(uploader_channels_, &next_uploader_, &uploader);
  v1::VerifyRequest verify;
  verify.set_snapshot(request.snapshot());
  verify.set_workers(request.workers());

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the orchestrator is shutting down");
  ReapThreads();
  std::shared_ptr<Record> rec = NewJob(v1::JOB_TYPE_VERIFY, request.snapshot());
  Log(absl::StrCat("job ", rec->job.id(), ": verify of ",
                   request.snapshot().empty() ? "every snapshot" : request.snapshot(),
                   " on uploader ", options_.uploaders[uploader]));
  Launch(rec, [this, rec, uploader, verify] { RunVerifyJob(rec, uploader, verify); });
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

bool JobManager::BeginCall(const std::shared_ptr<Record>& rec, grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  if (rec->cancel_requested) return false;
  rec->call = ctx;
  rec->job.set_state(v1::JOB_STATE_RUNNING);
  return true;
}

// A call that failed this way reached no stage: the replica is down or
// unreachable (no connection), so another replica may take the job. A stage
// that answered attaches its phase to its errors.
static bool Unreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) && PhaseOf(status) == v1::PHASE_UNSPECIFIED;
}

template <typename Plan, typename Method>
void JobManager::RunChunkerJob(const std::shared_ptr<Record>& rec, size_t chunker, const Plan& plan,
                               Method method, v1::Phase transport_phase) {
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

void JobManager::RunVerifyJob(const std::shared_ptr<Record>& rec, size_t uploader,
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

void JobManager::Publish(const std::shared_ptr<Record>& rec, const v1::JobEvent& event) {
  for (const std::shared_ptr<JobWatch::State>& w : rec->watchers) {
    if (w->queue.size() < options_.watch_queue) {
      w->queue.push_back(event);
    } else if (event.has_progress() && w->queue.back().has_progress()) {
      w->queue.back() = event;  // the newest progress replaces the queued one
    } else {
      ++w->dropped;
    }
  }
}

void JobManager::OnProgress(const std::shared_ptr<Record>& rec, const v1::StageProgress& p) {
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
  Publish(rec, e);
}

void JobManager::OnWarning(const std::shared_ptr<Record>& rec, const v1::Warning& w) {
  absl::MutexLock lock(&mu_);
  if (static_cast<size_t>(rec->job.warnings_size()) < kMaxJobWarnings) {
    *rec->job.add_warnings() = w;
  }
  v1::JobEvent e;
  *e.mutable_warning() = w;
  Publish(rec, e);
}

void JobManager::Finish(const std::shared_ptr<Record>& rec, const absl::Status& status,
                        v1::Phase transport_phase, const v1::StageResult* result,
                        const v1::VerifyResponse* verify) {
  absl::MutexLock lock(&mu_);
  v1::Job& job = rec->job;
  *job.mutable_status() = JobStatusOf(status, transport_phase, rec->cancel_requested);
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
  const absl::Time end = absl::Now();
  job.set_end_unix_ns(absl::ToUnixNanos(end));
  rec->done = true;
  --running_;
  SaveJob(*rec);
  // Metrics, before WaitIdle can see the job ended.
  metrics::OrchestratorMetrics& m = OrchestratorServiceMetrics();
  metrics::JobOutcome outcome;
  outcome.type = TypeLabel(job.type());
  outcome.exit_code = static_cast<int>(job.status().exit_code());
  outcome.failed_phase = job.status().failed_phase();
  outcome.start = absl::ToChronoTime(rec->start);
  outcome.end = absl::ToChronoTime(end);
  if (job.type() == v1::JOB_TYPE_BACKUP) {
    outcome.group = rec->group;
    const std::string& snapshot = job.snapshot();  // "GROUP/TIME" when written
    if (const size_t slash = snapshot.find('/'); slash != std::string::npos && slash > 0) {
      outcome.group = snapshot.substr(0, slash);
    }
    if (result != nullptr && result->has_stats()) outcome.backup_stats = result->stats();
  }
  metrics::RecordJobResult(m.jobs, outcome);
  m.jobs.Running(outcome.type).Decrement();
  for (const std::shared_ptr<JobWatch::State>& w : rec->watchers) w->final_job = job;
  Log(absl::StrCat("job ", job.id(), ": ", v1::JobState_Name(job.state()), ", exit ",
                   static_cast<int>(job.status().exit_code()),
                   job.status().message().empty() ? "" : ": " + job.status().message()));
}

absl::StatusOr<std::shared_ptr<JobManager::Record>> JobManager::Find(const std::string& id) const {
  if (id.empty()) return Bad("id is empty: give a job id (see ListJobs)");
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no job '", id.size() > 100 ? id.substr(0, 100) + "..." : id, "': see ListJobs"));
  }
  return it->second;
}

absl::StatusOr<v1::Job> JobManager::GetJob(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Record>> rec = Find(id);
  if (!rec.ok()) return rec.status();
  return (*rec)->job;
}

std::vector<v1::Job> JobManager::ListJobs() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<v1::Job> out;
  out.reserve(order_.size());
  for (const auto& r : order_) out.push_back(r->job);
  return out;
}

absl::StatusOr<v1::Job> JobManager::CancelJob(const std::string& id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Record>> rec = Find(id);
  if (!rec.ok()) return rec.status();
  Record& r = **rec;
  if (r.done) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " has already ended (", v1::JobState_Name(r.job.state()), ")"));
  }
  if (!r.cancel_requested) {
    r.cancel_requested = true;
    if (r.call != nullptr) r.call->TryCancel();
    Log(absl::StrCat("job ", id, ": cancel requested"));
  }
  return r.job;
}

absl::StatusOr<std::unique_ptr<JobWatch>> JobManager::Watch(const std::string& id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::shared_ptr<Record>> rec = Find(id);
  if (!rec.ok()) return rec.status();
  Record& r = **rec;
  auto state = std::make_shared<JobWatch::State>();
  if (r.done) {
    state->final_job = r.job;
  } else {
    if (r.job.has_progress()) {
      v1::JobEvent e;
      *e.mutable_progress() = r.job.progress();
      state->queue.push_back(std::move(e));
    }
    for (const v1::Warning& w : r.job.warnings()) {
      if (state->queue.size() >= options_.watch_queue) break;
      v1::JobEvent e;
      *e.mutable_warning() = w;
      state->queue.push_back(std::move(e));
    }
    r.watchers.push_back(state);
  }
  return std::unique_ptr<JobWatch>(new JobWatch(this, std::move(state)));
}

void JobManager::Unsubscribe(JobWatch::State* state) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, rec] : jobs_) {
    auto& ws = rec->watchers;
    for (auto it = ws.begin(); it != ws.end(); ++it) {
      if (it->get() == state) {
        ws.erase(it);
        return;
      }
    }
  }
}

absl::StatusOr<v1::ListSnapshotsResponse> JobManager::ListSnapshots(
    const v1::ListSnapshotsRequest& request) {
  if (absl::Status st = Need(options_.uploaders, "--uploader", "uploader"); !st.ok()) return st;
  if (request.group().size() > kMaxPathBytes) return Bad("group is too long");
  absl::Status last;
  for (size_t i = 0; i < uploader_channels_.size(); ++i) {
    auto stub = v1::Uploader::NewStub(uploader_channels_[i]);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    v1::ListSnapshotsResponse response;
    absl::Status st = rpc::FromGrpcStatus(stub->ListSnapshots(&ctx, request, &response));
    if (st.ok()) return response;
    last = absl::Status(st.code(), absl::StrCat("ListSnapshots on uploader ", options_.uploaders[i],
                                                ": ", st.message()));
    if (!absl::IsUnavailable(st) && !absl::IsDeadlineExceeded(st)) return last;
  }
  return last;
}

bool JobManager::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

}  // namespace arca::services
