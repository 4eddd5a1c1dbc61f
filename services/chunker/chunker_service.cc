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

std::chrono::system_clock::time_point In(absl::Duration d, absl::Time cap) {
  return absl::ToChronoTime(std::min(absl::Now() + d, cap));
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

// A unary call to any live uploader (failover on replica failures).
template <typename Req, typename Resp, typename Method>
absl::Status UploaderCall(ReplicaSet* uploaders, CallRegistry* calls, absl::Duration timeout,
                          absl::Time cap, const char* name, Method method, const Req& req,
                          Resp* resp) {
  return uploaders->Run(
      [&](size_t i) -> absl::Status {
        auto stub = v1::Uploader::NewStub(uploaders->channel(i));
        grpc::ClientContext ctx;
        ctx.set_deadline(In(timeout, cap));
        CallRegistry::Scoped reg(calls, &ctx);
        resp->Clear();
        absl::Status s = rpc::FromGrpcStatus(((*stub).*method)(&ctx, req, resp));
        if (!s.ok()) {
          // Keep the phase the uploader attached.
          absl::Status out(s.code(), absl::StrCat(name, " on uploader ", uploaders->address(i),
                                                  ": ", s.message()));
          if (PhaseOf(s) != v1::PHASE_UNSPECIFIED) out = WithPhase(out, PhaseOf(s));
          return out;
        }
        return absl::OkStatus();
      },
      [calls] { return calls->status(); });
}

// Sends a progress event every `interval` (from its own thread) while the
// job runs; the job updates the counters.
class ProgressTicker {
 public:
  ProgressTicker(const StageEventSink& events, CallRegistry* calls, absl::Duration interval,
                 v1::Phase phase)
      : phase_(phase) {
    thread_ = std::thread([this, &events, calls, interval] {
      absl::MutexLock lock(&mu_);
      while (!stop_) {
        mu_.AwaitWithTimeout(absl::Condition(&stop_), interval);
        if (stop_) break;
        if (bytes_.load() == 0 && files_.load() == 0) continue;
        if (!events(Progress(phase_.load(), files_.load(), bytes_.load(), total_.load()))) {
          calls->CancelAll(absl::CancelledError("the caller of the job went away"));
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
  void EmitNow(const StageEventSink& events) {
    events(Progress(phase_.load(), files_.load(), bytes_.load(), total_.load()));
  }
  void Set(uint64_t files, uint64_t bytes) {
    files_.store(files);
    bytes_.store(bytes);
  }
  void SetPhase(v1::Phase phase) { phase_.store(phase); }
  // StageProgress.bytes_total (0 = unknown).
  void SetTotal(uint64_t bytes) { total_.store(bytes); }

 private:
  static v1::StageEvent Progress(v1::Phase phase, uint64_t files, uint64_t bytes, uint64_t total) {
    v1::StageEvent e;
    e.mutable_progress()->set_phase(phase);
    e.mutable_progress()->set_files_done(files);
    e.mutable_progress()->set_bytes_done(bytes);
    e.mutable_progress()->set_bytes_total(total);
    return e;
  }

  std::atomic<v1::Phase> phase_;
  std::atomic<uint64_t> files_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> total_{0};
  absl::Mutex mu_;
  bool stop_ = false;
  std::thread thread_;
};

// --- backup -------------------------------------------------------------------------

struct CodecChoice {
  v1::Codec codec;
  int level;
};

absl::Status ValidateBackupPlan(const v1::BackupPlan& plan) {
  if (plan.source().empty() || plan.source()[0] != '/') {
    return BadPlan(absl::StrCat("plan.source '", plan.source(),
                                "' must be an absolute path on the collector's node"));
  }
  if (plan.host().empty()) {
    return BadPlan(
        "plan.host is empty: set the host name of the collector's node (it names the "
        "snapshot group)");
  }
  if (plan.collector().empty()) return BadPlan("plan.collector is empty: give a collector address");
  if (plan.compressors().empty()) {
    return BadPlan("plan.compressors is empty: give at least one compressor address");
  }
  if (plan.uploaders().empty()) {
    return BadPlan("plan.uploaders is empty: give at least one uploader address");
  }
  const int codec = static_cast<int>(plan.codec());
  if (codec != v1::CODEC_UNSPECIFIED && codec != v1::CODEC_NONE && codec != v1::CODEC_ZSTD &&
      codec != v1::CODEC_XZ) {
    return BadPlan(absl::StrCat("plan.codec ", codec, " is unknown: use zstd, xz or none"));
  }
  if (plan.level() < 0 || plan.level() > 22) {
    return BadPlan(absl::StrCat("plan.level ", plan.level(), " is out of range"));
  }
  if (plan.space_safety_factor() != 0) {
    // NaN and infinities included.
    if (absl::Status st =
            ValidateSpaceSafetyFactor(plan.space_safety_factor(), "plan.space_safety_factor");
        !st.ok()) {
      return BadPlan(
          absl::StrCat(st.message(), " (or 0 for the default ", kDefaultSpaceSafetyFactor, ")"));
    }
  }
  std::vector<std::string> excludes(plan.excludes().begin(), plan.excludes().end());
  if (absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(excludes); !m.ok()) {
    return Setup(m.status());
  }
  absl::flat_hash_set<std::string> names;
  for (const v1::Command& c : plan.commands()) {
    // Names only: the collector takes the command line from its
    // --commands-file (and refuses a request that carries one).
    if (absl::Status st = ValidateCommandName(c.name()); !st.ok()) {
      return BadPlan(std::string(st.message()));
    }
    if (!names.insert(c.name()).second) {
      return BadPlan(absl::StrCat("command name '", c.name(), "' is used twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CodecChoice> ChooseCodec(const v1::BackupPlan& plan,
                                        const v1::RepositoryConfig& config) {
  CodecChoice c;
  if (plan.codec() == v1::CODEC_UNSPECIFIED) {
    c.codec =
        config.default_codec() == v1::CODEC_UNSPECIFIED ? v1::CODEC_ZSTD : config.default_codec();
    c.level = plan.level() != 0                                 ? plan.level()
              : config.default_codec() == v1::CODEC_UNSPECIFIED ? DefaultLevel(Codec::kZstd)
                                                                : config.default_level();
  } else {
    c.codec = plan.codec();
    c.level = plan.level() != 0 ? plan.level() : DefaultLevel(static_cast<Codec>(c.codec));
  }
  if (absl::Status st = ValidateLevel(static_cast<Codec>(c.codec), c.level); !st.ok()) {
    return BadPlan(absl::StrCat("plan.level: ", st.message()));
  }
  return c;
}

// A warning that is not a loss of data.
void Notice(const StageEventSink& events, std::vector<v1::Warning>* warnings,
            const std::string& message) {
  v1::Warning w = MakeDataMissingWarning(v1::PHASE_SETUP, "", message);
  w.set_data_missing(false);
  v1::StageEvent e;
  *e.mutable_warning() = w;
  events(e);
  warnings->push_back(std::move(w));
}

// The free-space check of the embedded backup (libs/pipeline/space_check.h),
// done before anything is written. Bytes to collect: with a parent snapshot
// its bytes_collected (as the embedded backup does: no second walk),
// otherwise Collector.EstimateCollect (an lstat walk on the collector's
// node). Free space: Uploader.GetSpace of every uploader replica, the
// smallest wins (a chunk may land on any of them); the compression ratio is
// the largest they report. A replica that is down is left out (the pipeline
// would not use it either); a service too old to answer (UNIMPLEMENTED) is
// a warning and no check. Errors: RESOURCE_EXHAUSTED + PHASE_SETUP (exit 5)
// when the space is short; the collector's errors (PHASE_COLLECTION);
// FAILED_PRECONDITION + PHASE_SETUP when an uploader cannot stat its
// repository (exit 4); no uploader answering: PHASE_UPLOAD.
// `*bytes_to_collect` gets the estimate (0 when there is none).
absl::Status CheckRepositorySpace(const v1::BackupPlan& plan, std::optional<uint64_t> parent_bytes,
                                  ReplicaSet* uploaders, ReplicaSet* collector, CallRegistry* calls,
                                  const ChunkerOptions& options, absl::Time deadline,
                                  const StageEventSink& events, std::vector<v1::Warning>* warnings,
                                  uint64_t* bytes_to_collect) {
  *bytes_to_collect = 0;
  const double factor =
      plan.space_safety_factor() == 0 ? kDefaultSpaceSafetyFactor : plan.space_safety_factor();
  SpaceEstimate estimate;
  if (parent_bytes) {
    estimate.bytes_to_collect = *parent_bytes;
  } else {
    v1::CollectRequest req;
    req.set_job_id(plan.job_id());
    req.set_source(plan.source());
    *req.mutable_excludes() = plan.excludes();
    req.set_one_file_system(plan.one_file_system());
    v1::CollectEstimate resp;
    grpc::ClientContext ctx;
    // A walk of a large tree may outlast a unary call's timeout.
    ctx.set_deadline(In(options.job_timeout, deadline));
    absl::Status st;
    {
      CallRegistry::Scoped reg(calls, &ctx);
      st = rpc::FromGrpcStatus(
          v1::Collector::NewStub(collector->channel(0))->EstimateCollect(&ctx, req, &resp));
    }
    if (!st.ok()) {
      if (calls->cancelled()) return calls->status();
      if (absl::IsUnimplemented(st)) {
        Notice(events, warnings,
               absl::StrCat("collector ", plan.collector(),
                            " cannot estimate the source (EstimateCollect: ", st.message(),
                            "): the free-space check is skipped"));
        return absl::OkStatus();
      }
      return WithPhase(
          absl::Status(st.code(), absl::StrCat("collector ", plan.collector(), ": ", st.message())),
          PhaseOf(st) != v1::PHASE_UNSPECIFIED ? PhaseOf(st) : v1::PHASE_COLLECTION);
    }
    estimate.bytes_to_collect = resp.bytes();
  }
  *bytes_to_collect = estimate.bytes_to_collect;

  std::optional<uint64_t> min_free;
  std::string label;
  double ratio = 0;
  absl::Status last_failure;
  for (size_t i = 0; i < uploaders->size(); ++i) {
    if (uploaders->down(i)) continue;
    v1::GetSpaceResponse space;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(options.call_timeout, deadline));
    absl::Status st;
    {
      CallRegistry::Scoped reg(calls, &ctx);
      st = rpc::FromGrpcStatus(v1::Uploader::NewStub(uploaders->channel(i))
                                   ->GetSpace(&ctx, v1::GetSpaceRequest(), &space));
    }
    if (!st.ok()) {
      if (calls->cancelled()) return calls->status();
      const std::string what =
          absl::StrCat("GetSpace on uploader ", uploaders->address(i), ": ", st.message());
      if (absl::IsUnimplemented(st)) {
        Notice(events, warnings, absl::StrCat(what, ": its free space is not checked"));
        continue;
      }
      if (IsReplicaFailure(st)) {
        uploaders->MarkDown(i, st);
        last_failure = absl::Status(st.code(), what);
        continue;
      }
      return Setup(absl::FailedPreconditionError(
          absl::StrCat(what, "; the repository's free space cannot be checked")));
    }
    ratio = std::max(ratio, space.compression_ratio());
    if (!min_free || space.free_bytes() < *min_free) {
      min_free = space.free_bytes();
      label = absl::StrCat(space.path(), " (uploader ", uploaders->address(i), ")");
    }
  }
  if (!min_free) {
    if (!last_failure.ok()) {
      if (uploaders->live() == 0) return uploaders->NoneLeft();
      return WithPhase(last_failure, v1::PHASE_UPLOAD);
    }
    return absl::OkStatus();  // no uploader can tell (warned above)
  }
  // A ratio of 0 (nothing stored yet, or an uploader that left it unset)
  // is replaced by 1, like the embedded backup's default.
  estimate.compression_ratio = ratio > 0 ? ratio : 1.0;
  return CheckFreeSpace(estimate, *min_free, factor, label);
}

}  // namespace

absl::Status RunBackupJob(const v1::BackupPlan& plan, const ChunkerOptions& options,
                          WorkerPool* hash_pool, CallRegistry* calls, absl::Time deadline,
                          const StageEventSink& events) {
  const auto job_start = Clock::now();
  const auto wall_start = std::chrono::system_clock::now();
  RETURN_IF_ERROR(ValidateBackupPlan(plan));
  ASSIGN_OR_RETURN(StageReplicas replicas, MakeStageReplicas(plan, options));
  std::unique_ptr<ReplicaSet> uploaders = std::move(replicas.uploaders);
  std::unique_ptr<ReplicaSet> compressors = std::move(replicas.compressors);
  std::unique_ptr<ReplicaSet> collector = std::move(replicas.collector);

  // --- setup: repository configuration ------------------------------------------
  v1::RepositoryConfig config;
  RETURN_IF_ERROR(
      WithPhase(UploaderCall(uploaders.get(), calls, options.call_timeout, deadline, "GetConfig",
                             &v1::Uploader::Stub::GetConfig, v1::GetConfigRequest(), &config),
                v1::PHASE_UPLOAD));
  const ChunkerParams payload_params = ChunkerParams::FromProto(config.payload_chunker());
  const ChunkerParams metadata_params = ChunkerParams::FromProto(config.metadata_chunker());
  for (const ChunkerParams* p : {&payload_params, &metadata_params}) {
    if (absl::Status st = p->Validate(); !st.ok()) {
      return Setup(absl::FailedPreconditionError(absl::StrCat(
          "the repository has invalid chunker parameters in its config: ", st.message())));
    }
  }
  ASSIGN_OR_RETURN(CodecChoice codec, ChooseCodec(plan, config));

  // --- setup: the parent snapshot --------------------------------------------------
  const std::string group = Repository::GroupName(plan.host(), plan.source());
  std::vector<v1::Warning> warnings;
  std::string parent_id;
  std::optional<uint64_t> parent_bytes;  // the parent's bytes_collected
  if (plan.metadata_change_detection()) {
    if (!plan.parent().empty()) {
      v1::GetSnapshotRequest req;
      req.set_id(plan.parent());
      v1::GetSnapshotResponse resp;
      absl::Status st = UploaderCall(uploaders.get(), calls, options.call_timeout, deadline,
                                     "GetSnapshot", &v1::Uploader::Stub::GetSnapshot, req, &resp);
      if (!st.ok()) {
        if (IsReplicaFailure(st)) return WithPhase(st, v1::PHASE_UPLOAD);
        return Setup(absl::Status(st.code(),
                                  absl::StrCat("plan.parent ", plan.parent(), ": ", st.message())));
      }
      parent_id = resp.snapshot().id();
      parent_bytes = resp.snapshot().stats().bytes_collected();
    } else {
      v1::ListSnapshotsRequest req;
      req.set_group(group);
      v1::ListSnapshotsResponse resp;
      absl::Status st =
          UploaderCall(uploaders.get(), calls, options.call_timeout, deadline, "ListSnapshots",
                       &v1::Uploader::Stub::ListSnapshots, req, &resp);
      if (!st.ok()) {
        if (calls->cancelled()) return calls->status();
        v1::Warning w = MakeDataMissingWarning(
            v1::PHASE_ARCHIVE, "",
            absl::StrCat("cannot list earlier snapshots (", st.message(), "): every file is read"));
        w.set_data_missing(false);
        warnings.push_back(std::move(w));
      } else {
        int64_t newest = 0;
        for (const v1::SnapshotInfo& s : resp.snapshots()) {
          if (s.group() == group && (parent_id.empty() || s.time_unix_ns() >= newest)) {
            parent_id = s.id();
            parent_bytes = s.stats().bytes_collected();
            newest = s.time_unix_ns();
          }
        }
      }
    }
  }
  for (const v1::Warning& w : warnings) {
    v1::StageEvent e;
    *e.mutable_warning() = w;
    events(e);
  }

  // --- setup: free space (nothing is written before this passes) ----------------------
  uint64_t bytes_to_collect = 0;
  RETURN_IF_ERROR(CheckRepositorySpace(plan, parent_bytes, uploaders.get(), collector.get(), calls,
                                       options, deadline, events, &warnings, &bytes_to_collect));

  // --- the pipeline: collector → archive → compressors → uploaders ------------------
  RemoteChunkWriterOptions wopts;
  wopts.codec = codec.codec;
  wopts.level = codec.level;
  wopts.max_chunks_in_flight = options.max_chunks_in_flight != 0 ? options.max_chunks_in_flight
                                                                 : 8 * compressors->size() + 16;
  wopts.call_timeout = options.call_timeout;
  wopts.stall_timeout = options.stall_timeout;
  wopts.stream_deadline = std::min(absl::Now() + options.job_timeout, deadline);
  wopts.compress_first = options.compress_first;
  metrics::ChunkerMetrics& metrics = ChunkerServiceMetrics();
  wopts.metrics = &metrics;
  RemoteChunkWriter writer(compressors.get(), uploaders.get(), calls, hash_pool, wopts);
  ArchiveBuilder archive(payload_params, metadata_params, config.chunker_seed(), &writer);
  CollectEventApplier applier(&archive);

  v1::CollectRequest creq;
  creq.set_job_id(plan.job_id());
  creq.set_source(plan.source());
  *creq.mutable_excludes() = plan.excludes();
  creq.set_one_file_system(plan.one_file_system());
  *creq.mutable_commands() = plan.commands();
  creq.set_parent_snapshot(parent_id);
  *creq.mutable_uploaders() = plan.uploaders();
  creq.set_ignore_ctime(plan.ignore_ctime());
  creq.set_parent_required(!plan.parent().empty());
  creq.set_align_threshold(payload_params.avg_size);

  const auto collect_start = Clock::now();
  ProgressTicker ticker(events, calls, options.progress_interval, v1::PHASE_ARCHIVE);
  ticker.SetTotal(bytes_to_collect);  // as the embedded backup's progress
  grpc::ClientContext cctx;
  cctx.set_deadline(absl::ToChronoTime(wopts.stream_deadline));
  absl::Status pipeline = [&]() -> absl::Status {
    CallRegistry::Scoped reg(calls, &cctx);
    // Collector.Collect read as raw messages: the file data goes from the
    // received slices to the archive without a protobuf copy in between.
    const grpc::internal::RpcMethod method("/arca.v1.Collector/Collect",
                                           grpc::internal::RpcMethod::SERVER_STREAMING,
                                           collector->channel(0));
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(collector->channel(0).get(),
                                                                      method, &cctx, creq));
    grpc::ByteBuffer message;
    std::vector<grpc::Slice> slices;
    std::vector<std::span<const uint8_t>> pieces;
    absl::Status local;
    while (reader->Read(&message)) {
      local = rpc::FromGrpcStatus(message.Dump(&slices));
      if (local.ok()) {
        pieces.clear();
        for (const grpc::Slice& s : slices) pieces.emplace_back(s.begin(), s.size());
        local = applier.ApplyWire(pieces);
      }
      slices.clear();
      message.Clear();
      if (!local.ok()) break;
      for (v1::Warning& w : applier.TakeWarnings()) {
        v1::StageEvent e;
        *e.mutable_warning() = w;
        events(e);
        warnings.push_back(std::move(w));
      }
      ticker.Set(applier.entries(), archive.payload_offset());
    }
    if (!local.ok()) cctx.TryCancel();
    absl::Status collect = rpc::FromGrpcStatus(reader->Finish());
    if (calls->cancelled()) return calls->status();
    // The writer's failure explains why the archive stopped.
    if (absl::Status w = writer.error(); !w.ok()) return w;
    if (!local.ok()) return local;
    if (!collect.ok()) {
      return WithPhase(
          absl::Status(collect.code(),
                       absl::StrCat("collector ", plan.collector(), ": ", collect.message())),
          PhaseOf(collect) != v1::PHASE_UNSPECIFIED ? PhaseOf(collect) : v1::PHASE_COLLECTION);
    }
    if (!applier.done()) {
      return WithPhase(absl::UnavailableError(absl::StrCat("collector ", plan.collector(),
                                                           " ended the stream without `done`")),
                       v1::PHASE_COLLECTION);
    }
    for (v1::Warning& w : applier.TakeWarnings()) {
      v1::StageEvent e;
      *e.mutable_warning() = w;
      events(e);
      warnings.push_back(std::move(w));
    }
    RETURN_IF_ERROR(WithPhase(archive.Finish(), v1::PHASE_ARCHIVE));
    return absl::OkStatus();
  }();
  auto log_writer = [&](const char* when) {
    const RemoteChunkWriterStats ws = writer.stats();
    std::vector<std::string> down;
    for (ReplicaSet* r : {compressors.get(), uploaders.get()}) {
      for (size_t i = 0; i < r->size(); ++i) {
        if (r->down(i)) down.push_back(absl::StrCat(r->what(), " ", r->address(i)));
      }
    }
    LogLine(options.program,
            absl::StrCat("job ", plan.job_id(), ": ", when, ": ", ws.chunks_total, " chunks (",
                         ws.chunks_new, " new, ", ws.chunks_reused, " reused from the parent), ",
                         ws.chunks_resent, " resent after replica failures",
                         down.empty() ? "" : "; down: ", absl::StrJoin(down, ", ")));
  };
  if (!pipeline.ok()) {
    if (absl::IsAborted(pipeline) && !writer.error().ok()) pipeline = writer.error();
    writer.Abort(pipeline);
    log_writer("stopped");
    if (calls->cancelled()) return calls->status();
    return pipeline;
  }
  const double collect_seconds = Seconds(Clock::now() - collect_start);
  ticker.Set(applier.entries(), archive.payload_offset());
  ticker.EmitNow(events);  // the whole source is archived
  ticker.SetPhase(v1::PHASE_UPLOAD);
  const auto drain_start = Clock::now();
  if (absl::Status st = writer.Finish(); !st.ok()) {
    log_writer("stopped");
    if (calls->cancelled()) return calls->status();
    return st;
  }
  log_writer("chunks stored");
  const double drain_seconds = Seconds(Clock::now() - drain_start);

  // --- commit ----------------------------------------------------------------------
  const auto commit_start = Clock::now();
  ASSIGN_OR_RETURN(ChunkIndex meta_index, writer.BuildIndex(v1::STREAM_KIND_METADATA));
  ASSIGN_OR_RETURN(ChunkIndex payload_index, writer.BuildIndex(v1::STREAM_KIND_PAYLOAD));
  v1::BackupStats stats = applier.done_event().stats();
  if (!parent_id.empty() && stats.parent_snapshot().empty()) {
    // The collector could not use it (a warning says why).
  }
  const RemoteChunkWriterStats ws = writer.stats();
  stats.set_metadata_bytes(archive.metadata_length());
  stats.set_chunks_total(ws.chunks_total);
  stats.set_chunks_new(ws.chunks_new);
  stats.set_bytes_new_raw(ws.bytes_new_raw);
  stats.set_bytes_new_stored(ws.bytes_new_stored);
  stats.set_bytes_deduplicated(ws.bytes_deduplicated);
  stats.set_compression_ratio(
      ws.bytes_new_raw == 0 ? 1.0 : static_cast<double>(ws.bytes_new_stored) / ws.bytes_new_raw);
  auto& phases = *stats.mutable_phase_seconds();
  phases["collection_and_archive"] = collect_seconds;
  phases["hash_cpu"] = ws.hash_seconds;
  phases["upload_drain"] = drain_seconds;

  v1::Manifest m;
  m.set_group(group);
  m.set_host(plan.host());
  m.add_sources(plan.source());
  m.set_time_unix_ns(
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count());
  auto& opts = *m.mutable_options();
  opts["compression"] = std::string(CodecName(static_cast<Codec>(codec.codec)));
  opts["level"] = std::to_string(codec.level);
  opts["one_file_system"] = plan.one_file_system() ? "true" : "false";
  opts["change_detection"] = plan.metadata_change_detection() ? "metadata" : "data";
  if (plan.ignore_ctime()) opts["ignore_ctime"] = "true";
  if (!plan.excludes().empty()) opts["excludes"] = absl::StrJoin(plan.excludes(), "\n");
  opts["pipeline"] = "distributed";
  if (!plan.job_id().empty()) opts["job_id"] = plan.job_id();
  for (const v1::Warning& w : warnings) *m.add_warnings() = w;
  for (v1::CommandResult& c : applier.TakeCommands()) *m.add_commands() = std::move(c);
  phases["commit"] = Seconds(Clock::now() - commit_start);
  stats.set_duration_seconds(Seconds(Clock::now() - job_start));
  // Once per job: reuse and padding are known from the collector's
  // CollectDone (the live counters are in RemoteChunkWriter).
  metrics.reused_bytes.Increment(static_cast<double>(stats.bytes_reused()));
  metrics.padding_bytes.Increment(static_cast<double>(stats.padding_bytes()));
  metrics.PhaseDuration(v1::PHASE_ARCHIVE).Observe(collect_seconds);
  metrics.PhaseDuration(v1::PHASE_UPLOAD).Observe(drain_seconds);
  *m.mutable_stats() = stats;

  if (calls->cancelled()) return calls->status();
  v1::CommitSnapshotRequest commit;
  commit.set_job_id(plan.job_id());
  commit.mutable_metadata_index()->set_stream(v1::STREAM_KIND_METADATA);
  commit.mutable_metadata_index()->set_data(meta_index.Encode(v1::STREAM_KIND_METADATA));
  commit.mutable_payload_index()->set_stream(v1::STREAM_KIND_PAYLOAD);
  commit.mutable_payload_index()->set_data(payload_index.Encode(v1::STREAM_KIND_PAYLOAD));
  *commit.mutable_manifest() = m;
  // One attempt: a commit that failed half-way must not be repeated elsewhere.
  std::optional<size_t> at = uploaders->Pick();
  if (!at) return uploaders->NoneLeft();
  v1::CommitSnapshotResponse committed;
  {
    auto stub = v1::Uploader::NewStub(uploaders->channel(*at));
    grpc::ClientContext ctx;
    ctx.set_deadline(In(options.commit_timeout, deadline));
    CallRegistry::Scoped reg(calls, &ctx);
    absl::Status st = rpc::FromGrpcStatus(stub->CommitSnapshot(&ctx, commit, &committed));
    if (!st.ok()) {
      if (calls->cancelled()) return calls->status();
      absl::Status out(st.code(), absl::StrCat("CommitSnapshot on uploader ",
                                               uploaders->address(*at), ": ", st.message()));
      return WithPhase(out, PhaseOf(st) != v1::PHASE_UNSPECIFIED ? PhaseOf(st) : v1::PHASE_UPLOAD);
    }
  }
  metrics.PhaseDuration(v1::PHASE_COMMIT).Observe(Seconds(Clock::now() - commit_start));
  bool partial = false;
  for (const v1::Warning& w : warnings) partial |= w.data_missing();
  v1::StageEvent result;
  v1::StageResult* r = result.mutable_result();
  r->set_snapshot(committed.snapshot().id());
  *r->mutable_stats() = committed.has_manifest() ? committed.manifest().stats() : stats;
  r->set_exit_code(partial ? static_cast<int>(ExitCode::kPartial) : 0);
  events(result);
  return absl::OkStatus();
}

// --- restore -------------------------------------------------------------------------

absl::Status RunRestoreJob(const v1::RestorePlan& plan, const ChunkerOptions& options,
                           CallRegistry* calls, absl::Time deadline, const StageEventSink& events) {
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
  ctx.set_deadline(In(options.job_timeout, deadline));
  CallRegistry::Scoped reg(calls, &ctx);
  v1::WriteTreeResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::WriteTreeRequest>> out =
      v1::Collector::NewStub(collector->channel(0))->WriteTree(&ctx, &response);
  uint64_t entries = 0;
  uint64_t bytes = 0;
  prometheus::Counter& restored = ChunkerServiceMetrics().restored_bytes;
  ProgressTicker ticker(events, calls, options.progress_interval, v1::PHASE_RESTORE);
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
      ticker.Set(entries, bytes);
    }
    RETURN_IF_ERROR(flush());
    ticker.Set(entries, bytes);
    ticker.EmitNow(events);
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
  CancelWatcher watcher([context] { return context->IsCancelled(); },
                        [&] {
                          calls.CancelAll(absl::CancelledError(
                              "the backup was cancelled by the caller of RunBackup"));
                        });
  absl::Mutex write_mu;
  StageEventSink events = [&](const v1::StageEvent& e) {
    absl::MutexLock lock(&write_mu);
    return writer->Write(e);
  };
  absl::Status st =
      RunBackupJob(*plan, options_, &hash_pool_, &calls, CallerDeadline(context), events);
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
  CancelWatcher watcher([context] { return context->IsCancelled(); },
                        [&] {
                          calls.CancelAll(absl::CancelledError(
                              "the restore was cancelled by the caller of RunRestore"));
                        });
  absl::Mutex write_mu;
  StageEventSink events = [&](const v1::StageEvent& e) {
    absl::MutexLock lock(&write_mu);
    return writer->Write(e);
  };
  absl::Status st = RunRestoreJob(*plan, options_, &calls, CallerDeadline(context), events);
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
