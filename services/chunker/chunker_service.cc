#include "services/chunker/chunker_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/metrics/registry.h"
#include "libs/pipeline/backup_job.h"
#include "libs/pipeline/backup_plan.h"
#include "libs/pipeline/progress.h"
#include "libs/pipeline/remote/cancel_watcher.h"
#include "libs/pipeline/remote/replica_set.h"
#include "libs/pipeline/restore_job.h"
#include "libs/rpc/status_convert.h"
#include "services/chunker/remote_backup_ports.h"
#include "services/chunker/remote_chunk_writer.h"
#include "services/chunker/remote_restore_ports.h"
#include "services/common/server.h"

namespace arca::services {

metrics::ChunkerMetrics& ChunkerServiceMetrics() {
  // One catalog per process, never destroyed (like the registry).
  static metrics::ChunkerMetrics* const m =
      new metrics::ChunkerMetrics(*metrics::ProcessRegistry());
  return *m;
}

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

absl::Status Setup(absl::Status st) { return WithPhase(std::move(st), v1::PHASE_SETUP); }

absl::Status BadPlan(const std::string& message) {
  return Setup(absl::InvalidArgumentError(message));
}

absl::StatusOr<std::unique_ptr<ReplicaSet>> MakeReplicas(
    const std::string& what, v1::Phase phase,
    const google::protobuf::RepeatedPtrField<std::string>& addresses, const ClientTlsFlags& tls) {
  std::vector<std::string> list;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  ClientTlsFlags as_peer = tls;
  as_peer.server_role = RoleFromName(what);  // the replica must prove its role
  for (const std::string& a : addresses) {
    if (a.empty()) return BadPlan(absl::StrCat("an empty ", what, " address in the plan"));
    absl::StatusOr<std::shared_ptr<grpc::Channel>> c = MakeChannel(a, as_peer);
    if (!c.ok()) return Setup(c.status());
    list.push_back(a);
    channels.push_back(*std::move(c));
  }
  return std::make_unique<ReplicaSet>(what, phase, std::move(list), std::move(channels));
}

// The replica sets of one job: its uploaders, compressors and collector.
struct StageReplicas {
  std::unique_ptr<ReplicaSet> uploaders;
  std::unique_ptr<ReplicaSet> compressors;
  std::unique_ptr<ReplicaSet> collector;
};

template <typename Plan>
absl::StatusOr<StageReplicas> MakeStageReplicas(const Plan& plan, const ChunkerOptions& options) {
  StageReplicas r;
  ASSIGN_OR_RETURN(r.uploaders,
                   MakeReplicas("uploader", v1::PHASE_UPLOAD, plan.uploaders(), options.peer_tls));
  ASSIGN_OR_RETURN(r.compressors, MakeReplicas("compressor", v1::PHASE_COMPRESSION,
                                               plan.compressors(), options.peer_tls));
  google::protobuf::RepeatedPtrField<std::string> collector_list;
  *collector_list.Add() = plan.collector();
  ASSIGN_OR_RETURN(r.collector, MakeReplicas("collector", v1::PHASE_COLLECTION, collector_list,
                                             options.peer_tls));
  return r;
}

// Sends the job's Progress as a StageEvent every `interval` (from its own
// thread) while the job runs. A caller that went away cancels the job.
class ProgressTicker {
 public:
  ProgressTicker(const StageEventSink& events, const Progress* progress, CallRegistry* calls,
                 CancelToken* cancel, absl::Duration interval)
      : events_(events), progress_(progress) {
    thread_ = std::thread([this, calls, cancel, interval] {
      absl::MutexLock lock(&mu_);
      while (!stop_) {
        mu_.AwaitWithTimeout(absl::Condition(&stop_), interval);
        if (stop_) break;
        const ProgressSample p = progress_->Read();
        if (p.bytes_done == 0 && p.files_done == 0) continue;
        if (!events_(Event(p))) {
          calls->CancelAll(absl::CancelledError("the caller of the job went away"));
          if (cancel != nullptr) cancel->Cancel();
        }
      }
    });
  }
  ~ProgressTicker() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  // Sends the current counters now (e.g. at the end of a phase).
  void EmitNow() { events_(Event(progress_->Read())); }

 private:
  static v1::StageEvent Event(const ProgressSample& p) {
    v1::StageEvent e;
    e.mutable_progress()->set_phase(p.phase);
    e.mutable_progress()->set_files_done(p.files_done);
    e.mutable_progress()->set_bytes_done(p.bytes_done);
    e.mutable_progress()->set_bytes_total(p.bytes_total);
    return e;
  }

  const StageEventSink& events_;
  const Progress* progress_;
  absl::Mutex mu_;
  bool stop_ = false;
  std::thread thread_;
};

// --- backup -------------------------------------------------------------------------

RemoteCallTimeouts Timeouts(const ChunkerOptions& options, absl::Time deadline) {
  RemoteCallTimeouts t;
  t.call = options.call_timeout;
  t.commit = options.commit_timeout;
  t.job = options.job_timeout;
  t.deadline = deadline;
  return t;
}

}  // namespace

absl::Status RunDistributedBackup(const v1::BackupPlan& plan, const ChunkerOptions& options,
                                  WorkerPool* hash_pool, CallRegistry* calls, CancelToken* cancel,
                                  absl::Time deadline, const StageEventSink& events) {
  RETURN_IF_ERROR(CheckDistributedBackupPlan(plan));
  ASSIGN_OR_RETURN(StageReplicas replicas, MakeStageReplicas(plan, options));
  ReplicaSet* const uploaders = replicas.uploaders.get();
  ReplicaSet* const compressors = replicas.compressors.get();
  const RemoteCallTimeouts timeouts = Timeouts(options, deadline);
  RemoteSnapshotRepository repository(uploaders, calls, timeouts, plan.job_id());
  RemoteEntrySource entries(plan, replicas.collector.get(), uploaders, calls, timeouts);
  RemoteChunkWriterOptions wopts;
  wopts.max_chunks_in_flight = options.max_chunks_in_flight != 0 ? options.max_chunks_in_flight
                                                                 : 8 * compressors->size() + 16;
  wopts.call_timeout = options.call_timeout;
  wopts.stall_timeout = options.stall_timeout;
  wopts.stream_deadline = std::min(absl::Now() + options.job_timeout, deadline);
  wopts.compress_first = options.compress_first;
  metrics::ChunkerMetrics& metrics = ChunkerServiceMetrics();
  wopts.metrics = &metrics;
  RemoteChunkDestination chunks(compressors, uploaders, calls, hash_pool, wopts);
  chunks.set_key_source(&repository);  // an encrypted repository's id key

  Progress progress;
  BackupJobOptions job;
  job.pipeline = "distributed";
  job.field_names = PlanFieldNames::kPlan;
  job.progress = &progress;
  job.cancel = cancel;
  job.on_warning = [&events](const v1::Warning& w) {
    v1::StageEvent e;
    *e.mutable_warning() = w;
    events(e);
  };
  BackupJobResult result;
  {
    ProgressTicker ticker(events, &progress, calls, cancel, options.progress_interval);
    result = RunBackupJob(plan, BackupPorts{&repository, &entries, &chunks}, job);
    if (result.status.ok()) ticker.EmitNow();
  }
  if (const RemoteChunkWriter* writer = chunks.writer(); writer != nullptr) {
    const RemoteChunkWriterStats ws = writer->stats();
    std::vector<std::string> down;
    for (ReplicaSet* r : {compressors, uploaders}) {
      for (size_t i = 0; i < r->size(); ++i) {
        if (r->down(i)) down.push_back(absl::StrCat(r->what(), " ", r->address(i)));
      }
    }
    LogLine(options.program,
            absl::StrCat(
                "job ", plan.job_id(), ": ", result.status.ok() ? "chunks stored" : "stopped", ": ",
                ws.chunks_total, " chunks (", ws.chunks_new, " new, ", ws.chunks_reused,
                " reused from the parent), ", ws.chunks_resent, " resent after replica failures",
                down.empty() ? "" : "; down: ", absl::StrJoin(down, ", ")));
  }
  if (!result.status.ok()) {
    if (calls->cancelled()) return calls->status();
    return result.status;
  }
  // Once per job: reuse and padding are known from the collector's
  // CollectDone (the live counters are in RemoteChunkWriter).
  const v1::BackupStats& stats = result.manifest.stats();
  metrics.reused_bytes.Increment(static_cast<double>(stats.bytes_reused()));
  metrics.padding_bytes.Increment(static_cast<double>(stats.padding_bytes()));
  auto phase_seconds = [&stats](const char* key) {
    auto it = stats.phase_seconds().find(key);
    return it == stats.phase_seconds().end() ? 0.0 : it->second;
  };
  metrics.PhaseDuration(v1::PHASE_ARCHIVE).Observe(phase_seconds("collection_and_archive"));
  metrics.PhaseDuration(v1::PHASE_UPLOAD).Observe(phase_seconds("upload_drain"));
  metrics.PhaseDuration(v1::PHASE_COMMIT).Observe(phase_seconds("commit"));
  v1::StageEvent event;
  v1::StageResult* r = event.mutable_result();
  r->set_snapshot(result.manifest.id());
  *r->mutable_stats() = stats;
  r->set_exit_code(static_cast<int>(result.exit_code));
  events(event);
  return absl::OkStatus();
}

// --- restore -------------------------------------------------------------------------

absl::Status RunDistributedRestore(const v1::RestorePlan& plan, const ChunkerOptions& options,
                                   CallRegistry* calls, CancelToken* cancel, absl::Time deadline,
                                   const StageEventSink& events) {
  if (plan.snapshot().empty()) {
    return BadPlan("plan.snapshot is empty: give a snapshot id or \"latest\"");
  }
  if (plan.target().empty() || plan.target()[0] != '/') {
    return BadPlan(absl::StrCat("plan.target '", plan.target(),
                                "' must be an absolute path on the collector's node"));
  }
  if (plan.collector().empty()) return BadPlan("plan.collector is empty: give a collector address");
  if (plan.uploaders().empty()) {
    return BadPlan("plan.uploaders is empty: give at least one uploader address");
  }
  ASSIGN_OR_RETURN(StageReplicas replicas, MakeStageReplicas(plan, options));
  const RemoteCallTimeouts timeouts = Timeouts(options, deadline);
  RemoteSnapshotSource snapshots(replicas.uploaders.get(), replicas.compressors.get(), calls,
                                 timeouts, options.restore_read_ahead);
  RemoteTreeTarget target(plan, replicas.collector.get(), calls, timeouts,
                          &ChunkerServiceMetrics().restored_bytes);
  Progress progress;
  RestoreJobOptions job;
  job.includes.assign(plan.includes().begin(), plan.includes().end());
  job.progress = &progress;
  job.cancel = cancel;
  RestoreResult result;
  {
    ProgressTicker ticker(events, &progress, calls, cancel, options.progress_interval);
    result = RunRestoreJob(plan.snapshot(), RestorePorts{&snapshots, &target}, job);
    if (result.status.ok() || !result.damaged_files.empty()) ticker.EmitNow();
  }
  if (!result.status.ok() && calls->cancelled()) return calls->status();
  // Damaged files (a restore past damage: the rest of the tree was written)
  // are warnings with data_missing, sent before the status (DATA_LOSS, exit 8).
  for (const std::vector<v1::Warning>* list : {&result.warnings, &result.damaged_files}) {
    for (const v1::Warning& w : *list) {
      v1::StageEvent e;
      *e.mutable_warning() = w;
      events(e);
    }
  }
  if (!result.status.ok()) return result.status;
  v1::StageEvent event;
  v1::StageResult* r = event.mutable_result();
  r->set_snapshot(result.snapshot_id);
  r->set_entries(result.entries);
  r->set_bytes(result.bytes);
  r->set_exit_code(0);
  r->set_entries_skipped(result.skipped);
  r->set_entries_deleted(result.deleted);
  for (const std::string& p : result.deleted_paths) r->add_deleted_paths(p);
  events(event);
  return absl::OkStatus();
}

// --- the service -----------------------------------------------------------------------

ChunkerService::ChunkerService(ChunkerOptions options)
    : options_(std::move(options)), hash_pool_(options_.hash_threads) {
  ChunkerServiceMetrics();  // every series exists (at 0) from the start
}

namespace {

absl::Time CallerDeadline(const grpc::ServerContext* context) {
  const auto d = context->deadline();
  if (d == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(d);
}

}  // namespace

grpc::Status ChunkerService::RunBackup(grpc::ServerContext* context, const v1::BackupPlan* plan,
                                       grpc::ServerWriter<v1::StageEvent>* writer) {
  const auto start = Clock::now();
  metrics::ChunkerMetrics& metrics = ChunkerServiceMetrics();
  metrics::GaugeInFlight running(metrics.streams_running);
  CallRegistry calls;
  CancelToken cancel;
  CancelWatcher watcher([context] { return context->IsCancelled(); },
                        [&] {
                          calls.CancelAll(absl::CancelledError(
                              "the backup was cancelled by the caller of RunBackup"));
                          cancel.Cancel();
                        });
  absl::Mutex write_mu;
  StageEventSink events = [&](const v1::StageEvent& e) {
    absl::MutexLock lock(&write_mu);
    return writer->Write(e);
  };
  absl::Status st = RunDistributedBackup(*plan, options_, &hash_pool_, &calls, &cancel,
                                         CallerDeadline(context), events);
  metrics.errors.Record(st, v1::PHASE_ARCHIVE);
  LogLine(options_.program,
          absl::StrCat("job ", plan->job_id(), ": backup of ", plan->host(), ":", plan->source(),
                       st.ok() ? ": done" : absl::StrCat(": ", st.ToString()), " in ",
                       Seconds(Clock::now() - start), " s"));
  return rpc::ToGrpcStatus(st);
}

grpc::Status ChunkerService::RunRestore(grpc::ServerContext* context, const v1::RestorePlan* plan,
                                        grpc::ServerWriter<v1::StageEvent>* writer) {
  const auto start = Clock::now();
  metrics::ChunkerMetrics& metrics = ChunkerServiceMetrics();
  metrics::GaugeInFlight running(metrics.streams_running);
  CallRegistry calls;
  CancelToken cancel;
  CancelWatcher watcher([context] { return context->IsCancelled(); },
                        [&] {
                          calls.CancelAll(absl::CancelledError(
                              "the restore was cancelled by the caller of RunRestore"));
                          cancel.Cancel();
                        });
  absl::Mutex write_mu;
  StageEventSink events = [&](const v1::StageEvent& e) {
    absl::MutexLock lock(&write_mu);
    return writer->Write(e);
  };
  absl::Status st =
      RunDistributedRestore(*plan, options_, &calls, &cancel, CallerDeadline(context), events);
  {
    const double seconds = Seconds(Clock::now() - start);
    if (st.ok()) metrics.PhaseDuration(v1::PHASE_RESTORE).Observe(seconds);
  }
  metrics.errors.Record(st, v1::PHASE_RESTORE);
  LogLine(options_.program,
          absl::StrCat("job ", plan->job_id(), ": restore of ", plan->snapshot(), " to ",
                       plan->target(), st.ok() ? ": done" : absl::StrCat(": ", st.ToString()),
                       " in ", Seconds(Clock::now() - start), " s"));
  return rpc::ToGrpcStatus(st);
}

grpc::Status ChunkerService::Chunk(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ChunkOutput, v1::ChunkInput>* stream) {
  absl::Status st = WithPhase(
      absl::UnimplementedError("Chunker.Chunk is not implemented: use RunBackup, which pulls the "
                               "collector's stream itself"),
      v1::PHASE_ARCHIVE);
  ChunkerServiceMetrics().errors.Record(st, v1::PHASE_ARCHIVE);
  return rpc::ToGrpcStatus(st);
}

}  // namespace arca::services
