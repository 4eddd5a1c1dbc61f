#include "services/chunker/chunker_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "arca/v1/collector.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/chunker/chunker.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/metrics/registry.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/remote/cancel_watcher.h"
#include "libs/pipeline/remote/collect_events.h"
#include "libs/pipeline/remote/read_ahead_chunk_source.h"
#include "libs/pipeline/remote/remote_chunk_source.h"
#include "libs/pipeline/remote/replica_set.h"
#include "libs/pipeline/restore_selection.h"
#include "libs/pipeline/space_check.h"
#include "libs/rpc/status_convert.h"
#include "libs/store/repository.h"
#include "libs/pipeline/backup_job.h"
#include "libs/pipeline/backup_plan.h"
#include "libs/pipeline/progress.h"
#include "services/chunker/remote_backup_ports.h"
#include "services/chunker/remote_chunk_writer.h"
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

// The same code and message with `phase` as the only phase.
absl::Status Rephase(const absl::Status& st, v1::Phase phase) {
  if (st.ok()) return st;
  return WithPhase(absl::Status(st.code(), st.message()), phase);
}

// A restore's error: PHASE_RESTORE (DATA_LOSS is exit 8 there, as in the
// embedded restore; the rest 13), except a compressor's Decompress answer
// that does not hash to the chunk's digest, which RemoteChunkSource marks
// PHASE_VERIFICATION (exit 8).
absl::Status RestorePhase(const absl::Status& st) {
  if (absl::IsDataLoss(st) && PhaseOf(st) == v1::PHASE_VERIFICATION) return st;
  return Rephase(st, v1::PHASE_RESTORE);
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
  RemoteEntrySource entries(plan, replicas.collector.get(), calls, timeouts);
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

  Progress progress;
  BackupJobOptions job;
  job.pipeline = "distributed";
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
            absl::StrCat("job ", plan.job_id(), ": ",
                         result.status.ok() ? "chunks stored" : "stopped", ": ", ws.chunks_total,
                         " chunks (", ws.chunks_new, " new, ", ws.chunks_reused,
                         " reused from the parent), ", ws.chunks_resent,
                         " resent after replica failures", down.empty() ? "" : "; down: ",
                         absl::StrJoin(down, ", ")));
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
  std::vector<std::string> includes(plan.includes().begin(), plan.includes().end());
  absl::StatusOr<RestoreSelection> selection = RestoreSelection::Create(includes, "");
  if (!selection.ok()) return Setup(selection.status());
  ASSIGN_OR_RETURN(StageReplicas replicas, MakeStageReplicas(plan, options));
  std::unique_ptr<ReplicaSet> uploaders = std::move(replicas.uploaders);
  std::unique_ptr<ReplicaSet> compressors = std::move(replicas.compressors);
  std::unique_ptr<ReplicaSet> collector = std::move(replicas.collector);

  v1::GetSnapshotRequest sreq;
  sreq.set_id(plan.snapshot());
  v1::GetSnapshotResponse snap;
  if (absl::Status st = UploaderCall(uploaders.get(), calls, options.call_timeout, deadline,
                                     "GetSnapshot", &v1::Uploader::Stub::GetSnapshot, sreq, &snap);
      !st.ok()) {
    if (calls->cancelled()) return calls->status();
    if (absl::IsNotFound(st) || absl::IsInvalidArgument(st)) return Rephase(st, v1::PHASE_SETUP);
    return Rephase(st, v1::PHASE_RESTORE);
  }
  const std::string id = snap.snapshot().id();
  ASSIGN_OR_RETURN(selection, RestoreSelection::Create(includes, id));
  absl::StatusOr<ChunkIndex> meta_index =
      ChunkIndex::Decode(AsBytes(snap.metadata_index().data()), v1::STREAM_KIND_METADATA,
                         absl::StrCat(id, "/metadata.aidx"));
  if (!meta_index.ok()) return Rephase(meta_index.status(), v1::PHASE_RESTORE);
  absl::StatusOr<ChunkIndex> payload_index =
      ChunkIndex::Decode(AsBytes(snap.payload_index().data()), v1::STREAM_KIND_PAYLOAD,
                         absl::StrCat(id, "/payload.aidx"));
  if (!payload_index.ok()) return Rephase(payload_index.status(), v1::PHASE_RESTORE);

  RemoteChunkSourceOptions source_options;
  source_options.call_timeout = options.call_timeout;
  RemoteChunkSource source(uploaders.get(), compressors->size() > 0 ? compressors.get() : nullptr,
                           calls, source_options);
  ReadAheadChunkSource meta_ahead(&*meta_index, &source, 2, 1);
  ReadAheadChunkSource payload_ahead(&*payload_index, &source, options.restore_read_ahead,
                                     std::max<size_t>(options.restore_read_ahead / 2, 1));
  StreamReader meta(&*meta_index, &meta_ahead);
  StreamReader payload(&*payload_index, &payload_ahead, 8);
  MetadataStreamReader reader(&meta);

  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options.job_timeout, deadline));
  CallRegistry::Scoped reg(calls, &ctx);
  v1::WriteTreeResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::WriteTreeRequest>> out =
      v1::Collector::NewStub(collector->channel(0))->WriteTree(&ctx, &response);
  uint64_t entries = 0;
  uint64_t bytes = 0;
  prometheus::Counter& restored = ChunkerServiceMetrics().restored_bytes;
  Progress progress;
  progress.SetPhase(v1::PHASE_RESTORE);
  ProgressTicker ticker(events, &progress, calls, cancel, options.progress_interval);
  constexpr size_t kBatchBytes = 1u << 20;
  v1::WriteTreeRequest batch;
  size_t batch_bytes = 0;
  bool stream_broken = false;
  auto send = [&](const v1::WriteTreeRequest& msg) -> absl::Status {
    if (!out->Write(msg)) {
      stream_broken = true;
      return absl::UnavailableError("the WriteTree stream broke");  // Finish says why
    }
    return absl::OkStatus();
  };
  auto flush = [&]() -> absl::Status {
    if (batch.batch().items_size() == 0) return absl::OkStatus();
    absl::Status st = send(batch);
    batch.Clear();
    batch_bytes = 0;
    return st;
  };
  absl::Status st = [&]() -> absl::Status {
    v1::WriteTreeRequest first;
    v1::RestoreTarget* t = first.mutable_target();
    t->set_job_id(plan.job_id());
    t->set_target(plan.target());
    *t->mutable_includes() = plan.includes();
    t->set_numeric_owner(true);
    RETURN_IF_ERROR(send(first));
    v1::Entry entry;
    std::vector<v1::Entry> selected;
    while (true) {
      if (calls->cancelled()) return calls->status();
      ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
      if (!more) break;
      selected.clear();
      RETURN_IF_ERROR(selection->Select(entry, &selected));
      for (v1::Entry& e : selected) {
        const bool regular = e.type() == v1::ENTRY_TYPE_REGULAR;
        uint64_t off = e.payload().offset();
        uint64_t left = regular ? e.payload().length() : 0;
        batch_bytes += e.ByteSizeLong();
        *batch.mutable_batch()->add_items()->mutable_entry() = std::move(e);
        if (left > 0) payload_ahead.ExpectOffset(off);
        while (left > 0) {
          const size_t want = static_cast<size_t>(std::min<uint64_t>(left, kBatchBytes));
          std::string* data = batch.mutable_batch()->add_items()->mutable_data()->mutable_data();
          data->resize(want);
          ASSIGN_OR_RETURN(
              size_t n, payload.ReadAt(off, std::span<uint8_t>(
                                                reinterpret_cast<uint8_t*>(data->data()), want)));
          if (n == 0) {
            return absl::DataLossError(absl::StrCat("payload of '", entry.path(),
                                                    "' ends early at stream offset ", off,
                                                    " in snapshot ", id));
          }
          data->resize(n);
          off += n;
          left -= n;
          bytes += n;
          restored.Increment(static_cast<double>(n));
          batch_bytes += n;
          if (batch_bytes >= kBatchBytes) RETURN_IF_ERROR(flush());
        }
        ++entries;
        if (batch_bytes >= kBatchBytes) RETURN_IF_ERROR(flush());
      }
      progress.SetFiles(entries);
      progress.SetBytes(bytes);
    }
    RETURN_IF_ERROR(flush());
    progress.SetFiles(entries);
    progress.SetBytes(bytes);
    ticker.EmitNow();
    if (!out->WritesDone()) stream_broken = true;
    return absl::OkStatus();
  }();
  if (!st.ok() && !stream_broken) ctx.TryCancel();
  absl::Status written = rpc::FromGrpcStatus(out->Finish());
  if (calls->cancelled()) return calls->status();
  if (!st.ok() && !stream_broken) return RestorePhase(st);
  if (!written.ok()) {
    return Rephase(absl::Status(written.code(), absl::StrCat("collector ", plan.collector(), ": ",
                                                             written.message())),
                   v1::PHASE_RESTORE);
  }
  if (!st.ok()) return RestorePhase(st);
  for (const v1::Warning& w : response.warnings()) {
    v1::StageEvent e;
    *e.mutable_warning() = w;
    events(e);
  }
  v1::StageEvent result;
  v1::StageResult* r = result.mutable_result();
  r->set_snapshot(id);
  r->set_entries(response.entries_written());
  r->set_bytes(response.bytes_written());
  r->set_exit_code(0);
  events(result);
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
  absl::Status st =
      RunDistributedBackup(*plan, options_, &hash_pool_, &calls, &cancel, CallerDeadline(context),
                           events);
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
  absl::Status st = RunDistributedRestore(*plan, options_, &calls, &cancel, CallerDeadline(context), events);
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
