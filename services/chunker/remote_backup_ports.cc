#include "services/chunker/remote_backup_ports.h"

#include <algorithm>
#include <span>

#include "absl/container/flat_hash_set.h"
#include "arca/v1/collector.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"
#include "libs/hash/digest.h"
#include "libs/pipeline/remote/collect_events.h"
#include "libs/store/repository.h"

namespace arca::services {
namespace {

absl::Status Setup(absl::Status st) { return WithPhase(std::move(st), v1::PHASE_SETUP); }

// A warning that is not a loss of data.
v1::Warning Notice(const std::string& message) {
  v1::Warning w;
  w.set_phase(v1::PHASE_SETUP);
  w.set_message(message);
  w.set_data_missing(false);
  return w;
}

SnapshotSummary Summary(const v1::SnapshotInfo& s) {
  return SnapshotSummary{s.id(), s.stats().bytes_collected(), s.time_unix_ns()};
}

}  // namespace

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d, absl::Time cap) {
  return absl::ToChronoTime(std::min(absl::Now() + d, cap));
}

// --- RemoteSnapshotRepository ------------------------------------------------------------

absl::StatusOr<RepositoryKey> FetchChunkIdKey(ReplicaSet* uploaders, CallRegistry* calls,
                                              const RemoteCallTimeouts& timeouts) {
  v1::GetChunkIdKeyResponse resp;
  absl::Status st =
      UploaderCall(uploaders, calls, timeouts.call, timeouts.deadline, "GetChunkIdKey",
                   &v1::Uploader::Stub::GetChunkIdKey, v1::GetChunkIdKeyRequest(), &resp);
  if (!st.ok()) {
    if (IsReplicaFailure(st) || calls->cancelled()) return WithPhase(st, v1::PHASE_UPLOAD);
    return Setup(absl::FailedPreconditionError(absl::StrCat(
        "the repository is encrypted but its id key could not be had: ", st.message())));
  }
  absl::StatusOr<RepositoryKey> key = RepositoryKey::FromIdKey(resp.id_key());
  if (!key.ok()) {
    // Never the key bytes: their size only.
    return Setup(absl::FailedPreconditionError(
        absl::StrCat("the uploader sent a malformed id key (", resp.id_key().size(), " bytes)")));
  }
  return key;
}

absl::StatusOr<v1::RepositoryConfig> RemoteSnapshotRepository::Config() {
  v1::RepositoryConfig config;
  RETURN_IF_ERROR(
      WithPhase(UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline, "GetConfig",
                             &v1::Uploader::Stub::GetConfig, v1::GetConfigRequest(), &config),
                v1::PHASE_UPLOAD));
  if (config.encryption().empty()) return config;
  if (!key_.has_value()) {
    ASSIGN_OR_RETURN(RepositoryKey key, FetchChunkIdKey(uploaders_, calls_, timeouts_));
    key_ = std::move(key);
  }
  return ChunkingConfig(config, &*key_);
}

absl::StatusOr<SnapshotSummary> RemoteSnapshotRepository::GetSnapshot(const std::string& id) {
  v1::GetSnapshotRequest req;
  req.set_id(id);
  v1::GetSnapshotResponse resp;
  absl::Status st = UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline,
                                 "GetSnapshot", &v1::Uploader::Stub::GetSnapshot, req, &resp);
  if (!st.ok()) {
    if (IsReplicaFailure(st) || calls_->cancelled()) return WithPhase(st, v1::PHASE_UPLOAD);
    return absl::Status(st.code(), st.message());  // an answer about the snapshot
  }
  return Summary(resp.snapshot());
}

absl::StatusOr<std::optional<SnapshotSummary>> RemoteSnapshotRepository::LatestSnapshot(
    const std::string& group) {
  v1::ListSnapshotsRequest req;
  req.set_group(group);
  v1::ListSnapshotsResponse resp;
  RETURN_IF_ERROR(UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline,
                               "ListSnapshots", &v1::Uploader::Stub::ListSnapshots, req, &resp));
  std::optional<SnapshotSummary> newest;
  for (const v1::SnapshotInfo& s : resp.snapshots()) {
    if (s.group() == group && (!newest || s.time_unix_ns() >= newest->time_unix_ns)) {
      newest = Summary(s);
    }
  }
  return newest;
}

absl::StatusOr<std::optional<SpaceReport>> RemoteSnapshotRepository::Space(
    std::vector<v1::Warning>* notices) {
  std::optional<SpaceReport> report;
  double ratio = 0;
  absl::Status last_failure;
  for (size_t i = 0; i < uploaders_->size(); ++i) {
    if (uploaders_->down(i)) continue;
    v1::GetSpaceResponse space;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeouts_.call, timeouts_.deadline));
    absl::Status st;
    {
      CallRegistry::Scoped reg(calls_, &ctx);
      st = rpc::FromGrpcStatus(v1::Uploader::NewStub(uploaders_->channel(i))
                                   ->GetSpace(&ctx, v1::GetSpaceRequest(), &space));
    }
    if (!st.ok()) {
      if (calls_->cancelled()) return calls_->status();
      const std::string what =
          absl::StrCat("GetSpace on uploader ", uploaders_->address(i), ": ", st.message());
      if (absl::IsUnimplemented(st)) {
        notices->push_back(Notice(absl::StrCat(what, ": its free space is not checked")));
        continue;
      }
      if (IsReplicaFailure(st)) {
        uploaders_->MarkDown(i, st);
        last_failure = absl::Status(st.code(), what);
        continue;
      }
      return Setup(absl::FailedPreconditionError(
          absl::StrCat(what, "; the repository's free space cannot be checked")));
    }
    ratio = std::max(ratio, space.compression_ratio());
    if (!report || space.free_bytes() < report->free_bytes) {
      report = SpaceReport{space.free_bytes(), 1.0,
                           absl::StrCat(space.path(), " (uploader ", uploaders_->address(i), ")")};
    }
  }
  if (!report) {
    if (!last_failure.ok()) {
      if (uploaders_->live() == 0) return uploaders_->NoneLeft();
      return WithPhase(last_failure, v1::PHASE_UPLOAD);
    }
    return std::nullopt;  // no uploader can tell (the notices say why)
  }
  // A ratio of 0 (nothing stored yet, or an uploader that left it unset) is
  // replaced by 1, as in a local repository.
  report->compression_ratio = ratio > 0 ? ratio : 1.0;
  return report;
}

absl::Status RemoteSnapshotRepository::BeginWrite(const std::string& description) {
  v1::HoldWriteRequest req;
  req.set_job_id(job_id_);
  req.set_description(absl::StrCat(description, " (job ", job_id_, ")"));
  for (size_t i = 0; i < uploaders_->size(); ++i) {
    if (uploaders_->down(i)) continue;
    Hold hold;
    hold.context = std::make_unique<grpc::ClientContext>();
    hold.context->set_deadline(DeadlineIn(timeouts_.job, timeouts_.deadline));
    hold.reader = v1::Uploader::NewStub(uploaders_->channel(i))->HoldWrite(hold.context.get(), req);
    v1::HoldWriteEvent event;
    if (hold.reader->Read(&event)) {
      holds_.push_back(std::move(hold));
      continue;
    }
    absl::Status st = rpc::FromGrpcStatus(hold.reader->Finish());
    if (calls_->cancelled()) return calls_->status();
    if (st.ok()) st = absl::UnavailableError("the stream ended without naming the lock");
    if (absl::IsUnimplemented(st)) continue;  // an older uploader: no lock, no gc either
    const std::string what =
        absl::StrCat("HoldWrite on uploader ", uploaders_->address(i), ": ", st.message());
    if (IsReplicaFailure(st)) {
      uploaders_->MarkDown(i, absl::Status(st.code(), what));
      continue;
    }
    return WithPhase(absl::FailedPreconditionError(what), v1::PHASE_SETUP);
  }
  if (uploaders_->live() == 0) return uploaders_->NoneLeft();
  return absl::OkStatus();
}

RemoteSnapshotRepository::~RemoteSnapshotRepository() {
  for (Hold& h : holds_) {
    h.context->TryCancel();
    (void)h.reader->Finish();
  }
}

absl::StatusOr<v1::Manifest> RemoteSnapshotRepository::Commit(const v1::Manifest& manifest,
                                                              std::string metadata_index,
                                                              std::string payload_index) {
  v1::CommitSnapshotRequest commit;
  commit.set_job_id(job_id_);
  commit.mutable_metadata_index()->set_stream(v1::STREAM_KIND_METADATA);
  commit.mutable_metadata_index()->set_data(std::move(metadata_index));
  commit.mutable_payload_index()->set_stream(v1::STREAM_KIND_PAYLOAD);
  commit.mutable_payload_index()->set_data(std::move(payload_index));
  *commit.mutable_manifest() = manifest;
  // One attempt: a commit that failed half-way must not be repeated elsewhere.
  std::optional<size_t> at = uploaders_->Pick();
  if (!at) return uploaders_->NoneLeft();
  v1::CommitSnapshotResponse committed;
  auto stub = v1::Uploader::NewStub(uploaders_->channel(*at));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeouts_.commit, timeouts_.deadline));
  CallRegistry::Scoped reg(calls_, &ctx);
  absl::Status st = rpc::FromGrpcStatus(stub->CommitSnapshot(&ctx, commit, &committed));
  if (!st.ok()) {
    if (calls_->cancelled()) return calls_->status();
    absl::Status out(st.code(), absl::StrCat("CommitSnapshot on uploader ",
                                             uploaders_->address(*at), ": ", st.message()));
    return WithPhase(out, PhaseOf(st) != v1::PHASE_UNSPECIFIED ? PhaseOf(st) : v1::PHASE_UPLOAD);
  }
  v1::Manifest written = committed.has_manifest() ? committed.manifest() : manifest;
  if (written.id().empty()) written.set_id(committed.snapshot().id());
  return written;
}

// --- RemoteEntrySource -------------------------------------------------------------------

v1::CollectRequest RemoteEntrySource::Request() const {
  v1::CollectRequest req;
  req.set_job_id(plan_.job_id());
  req.set_source(plan_.source());
  *req.mutable_excludes() = plan_.excludes();
  req.set_one_file_system(plan_.one_file_system());
  return req;
}

absl::Status RemoteEntrySource::Named(const absl::Status& st) const {
  return WithPhase(
      absl::Status(st.code(), absl::StrCat("collector ", plan_.collector(), ": ", st.message())),
      PhaseOf(st) != v1::PHASE_UNSPECIFIED ? PhaseOf(st) : v1::PHASE_COLLECTION);
}

absl::StatusOr<uint64_t> RemoteEntrySource::EstimateBytes(const std::string& parent_id) {
  // EstimateCollect walks without a parent (the collector's
  // RunEstimateCollect ignores CollectRequest.parent_snapshot): the job
  // falls back to the parent's bytes_collected.
  if (!parent_id.empty()) {
    return absl::UnimplementedError(absl::StrCat("collector ", plan_.collector(),
                                                 " cannot estimate against parent ", parent_id));
  }
  v1::CollectEstimate resp;
  grpc::ClientContext ctx;
  // A walk of a large tree may outlast a unary call's timeout.
  ctx.set_deadline(DeadlineIn(timeouts_.job, timeouts_.deadline));
  absl::Status st;
  {
    CallRegistry::Scoped reg(calls_, &ctx);
    st = rpc::FromGrpcStatus(
        v1::Collector::NewStub(collector_->channel(0))->EstimateCollect(&ctx, Request(), &resp));
  }
  if (st.ok()) return resp.bytes();
  if (calls_->cancelled()) return calls_->status();
  if (absl::IsUnimplemented(st)) {
    return absl::UnimplementedError(
        absl::StrCat("collector ", plan_.collector(),
                     " cannot estimate the source (EstimateCollect: ", st.message(), ")"));
  }
  return Named(st);
}

absl::Status RemoteEntrySource::ListMissingParentChunks(
    const std::string& parent_id, v1::CollectRequest* req,
    const std::function<void(const v1::Warning&)>& on_warning) {
  v1::GetSnapshotRequest sreq;
  sreq.set_id(parent_id);
  v1::GetSnapshotResponse snap;
  absl::Status st = UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline,
                                 "GetSnapshot", &v1::Uploader::Stub::GetSnapshot, sreq, &snap);
  if (!st.ok()) {
    if (calls_->cancelled()) return calls_->status();
    if (IsReplicaFailure(st)) return WithPhase(st, v1::PHASE_UPLOAD);
    return absl::OkStatus();  // an unusable parent: the collector says so
  }
  absl::StatusOr<ChunkIndex> index =
      ChunkIndex::Decode(AsBytes(snap.payload_index().data()), v1::STREAM_KIND_PAYLOAD,
                         absl::StrCat(parent_id, "/payload.aidx"));
  if (!index.ok()) return absl::OkStatus();  // likewise
  absl::flat_hash_set<Digest> seen;
  std::vector<Digest> distinct;
  for (const IndexEntry& e : index->entries()) {
    if (seen.insert(e.digest).second) distinct.push_back(e.digest);
  }
  std::vector<Digest> missing;
  for (size_t at = 0; at < distinct.size() && missing.size() <= kMaxMissingParentChunks;
       at += kHasChunksBatch) {
    const size_t end = std::min(distinct.size(), at + kHasChunksBatch);
    v1::HasChunksRequest hreq;
    for (size_t i = at; i < end; ++i) hreq.add_digests(std::string(distinct[i].Raw()));
    v1::HasChunksResponse hresp;
    st = UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline, "HasChunks",
                      &v1::Uploader::Stub::HasChunks, hreq, &hresp);
    if (!st.ok()) {
      if (calls_->cancelled()) return calls_->status();
      return WithPhase(
          absl::Status(st.code(), absl::StrCat("checking the chunks of parent snapshot ", parent_id,
                                               ": ", st.message())),
          v1::PHASE_UPLOAD);
    }
    if (hresp.present_size() != hreq.digests_size()) {
      return WithPhase(absl::InternalError(absl::StrCat("HasChunks answered ", hresp.present_size(),
                                                        " of ", hreq.digests_size(),
                                                        " digests of parent snapshot ", parent_id)),
                       v1::PHASE_UPLOAD);
    }
    for (size_t i = at; i < end; ++i) {
      if (!hresp.present(static_cast<int>(i - at))) missing.push_back(distinct[i]);
    }
  }
  if (missing.size() > kMaxMissingParentChunks) {
    req->set_parent_chunks_unusable(true);
    v1::Warning w;
    w.set_phase(v1::PHASE_ARCHIVE);
    w.set_data_missing(false);
    w.set_message(absl::StrCat("parent snapshot ", parent_id, ": more than ",
                               kMaxMissingParentChunks, " of its ", distinct.size(),
                               " payload chunks are missing from the repository (moved aside by "
                               "a verify, or lost): no file reuses them, every file is read"));
    on_warning(w);
    return absl::OkStatus();
  }
  for (const Digest& d : missing) req->add_missing_parent_chunks(std::string(d.Raw()));
  return absl::OkStatus();
}

absl::StatusOr<CollectResult> RemoteEntrySource::Collect(
    const CollectParams& params, ArchiveSink* archive, Progress* progress,
    const std::function<void(const v1::Warning&)>& on_warning) {
  v1::CollectRequest creq = Request();
  *creq.mutable_commands() = plan_.commands();
  creq.set_parent_snapshot(params.parent_id);
  *creq.mutable_uploaders() = plan_.uploaders();
  creq.set_ignore_ctime(plan_.ignore_ctime());
  creq.set_parent_required(params.parent_required);
  creq.set_align_threshold(params.align_threshold);
  if (!params.parent_id.empty()) {
    RETURN_IF_ERROR(ListMissingParentChunks(params.parent_id, &creq, on_warning));
  }

  CollectEventApplier applier(archive);
  grpc::ClientContext cctx;
  cctx.set_deadline(DeadlineIn(timeouts_.job, timeouts_.deadline));
  CallRegistry::Scoped reg(calls_, &cctx);
  // Collector.Collect read as raw messages: the file data goes from the
  // received slices to the archive without a protobuf copy in between.
  const grpc::internal::RpcMethod method("/arca.v1.Collector/Collect",
                                         grpc::internal::RpcMethod::SERVER_STREAMING,
                                         collector_->channel(0));
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(collector_->channel(0).get(),
                                                                    method, &cctx, creq));
  grpc::ByteBuffer message;
  std::vector<grpc::Slice> slices;
  std::vector<std::span<const uint8_t>> pieces;
  absl::Status local;
  auto forward_warnings = [&] {
    for (const v1::Warning& w : applier.TakeWarnings()) on_warning(w);
  };
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
    forward_warnings();
    progress->SetFiles(applier.entries());
    progress->SetBytes(archive->payload_offset());
  }
  if (!local.ok()) cctx.TryCancel();
  absl::Status collect = rpc::FromGrpcStatus(reader->Finish());
  if (calls_->cancelled()) return calls_->status();
  if (!local.ok()) return local;
  if (!collect.ok()) return Named(collect);
  if (!applier.done()) {
    return WithPhase(absl::UnavailableError(absl::StrCat("collector ", plan_.collector(),
                                                         " ended the stream without `done`")),
                     v1::PHASE_COLLECTION);
  }
  forward_warnings();
  progress->SetFiles(applier.entries());
  progress->SetBytes(archive->payload_offset());
  CollectResult result;
  result.stats = applier.done_event().stats();
  result.commands = applier.TakeCommands();
  return result;
}

// --- RemoteChunkDestination --------------------------------------------------------------

absl::StatusOr<ChunkSink*> RemoteChunkDestination::Open(v1::Codec codec, int level) {
  RemoteChunkWriterOptions options = options_;
  options.codec = codec;
  options.level = level;
  if (key_source_ != nullptr) options.key = key_source_->key();
  writer_ =
      std::make_unique<RemoteChunkWriter>(compressors_, uploaders_, calls_, hash_pool_, options);
  return writer_.get();
}

}  // namespace arca::services
