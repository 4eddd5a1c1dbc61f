#include "services/collector/collector_service.h"

#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/slice.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/fs/path_roots.h"
#include "libs/fs/tree_walker.h"
#include "libs/hash/digest.h"
#include "libs/metrics/registry.h"
#include "libs/pipeline/collection.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/parent_snapshot.h"
#include "libs/pipeline/remote/cancel_watcher.h"
#include "libs/pipeline/read_ahead_chunk_source.h"
#include "libs/pipeline/remote/remote_chunk_source.h"
#include "libs/pipeline/remote/replica_set.h"
#include "libs/pipeline/source_estimate.h"
#include "libs/rpc/status_convert.h"
#include "services/collector/write_tree_session.h"
#include "services/common/server.h"

namespace arca::services {
namespace {

absl::Status Collection(absl::Status st) { return WithPhase(std::move(st), v1::PHASE_COLLECTION); }

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// What Collect and EstimateCollect read: the source's canonical path (the
// walk uses it, so what was checked is what is read) and the exclude
// patterns.
struct CheckedSource {
  std::string canonical;
  fs::PathMatcher excludes;
};

// The checks Collect and EstimateCollect share, in their order: the source
// is an absolute path (INVALID_ARGUMENT) within one of the --source-root
// directories (PERMISSION_DENIED, fs::ResolveWithinRoots), and the exclude
// patterns compile (INVALID_ARGUMENT); then, once the rest of the request is
// checked, the source is a directory (its lstat error, or
// FAILED_PRECONDITION). PHASE_COLLECTION attached.
absl::StatusOr<CheckedSource> SourceAndExcludes(const v1::CollectRequest& request,
                                                const CollectorOptions& options) {
  const std::string& source = request.source();
  if (source.empty() || source[0] != '/') {
    return Collection(absl::InvalidArgumentError(
        absl::StrCat("source '", source, "' must be an absolute path on the collector's node")));
  }
  absl::StatusOr<std::string> canonical =
      fs::ResolveWithinRoots(source, options.source_roots, "source", "collector", "--source-root");
  if (!canonical.ok()) return Collection(canonical.status());
  std::vector<std::string> patterns(request.excludes().begin(), request.excludes().end());
  absl::StatusOr<fs::PathMatcher> excludes = fs::PathMatcher::Create(patterns);
  if (!excludes.ok()) return Collection(excludes.status());
  return CheckedSource{*std::move(canonical), *std::move(excludes)};
}

absl::Status SourceIsDirectory(fs::FileSystem* fs, const std::string& source) {
  absl::StatusOr<fs::StatInfo> st = fs->Lstat(source);
  if (!st.ok()) {
    return Collection(absl::Status(
        st.status().code(), absl::StrCat("cannot back up ", source, ": ", st.status().message())));
  }
  if (!S_ISDIR(st->mode)) {
    return Collection(
        absl::FailedPreconditionError(absl::StrCat("source ", source, " is not a directory")));
  }
  return absl::OkStatus();
}

// Channels to the uploaders named in the request.
absl::StatusOr<std::unique_ptr<ReplicaSet>> Uploaders(const v1::CollectRequest& request,
                                                      const CollectorOptions& options) {
  std::vector<std::string> addresses(request.uploaders().begin(), request.uploaders().end());
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& a : addresses) {
    ClientTlsFlags tls = options.peer_tls;
    tls.server_role = Role::kUploader;  // the parent's chunks come from an uploader only
    absl::StatusOr<std::shared_ptr<grpc::Channel>> c = MakeChannel(a, tls);
    if (!c.ok()) return c.status();
    channels.push_back(*std::move(c));
  }
  return std::make_unique<ReplicaSet>("uploader", v1::PHASE_UPLOAD, std::move(addresses),
                                      std::move(channels));
}

// The parent's metadata chunks from the uploaders, decoded here, a few
// fetched ahead of the walk (one round trip per chunk otherwise).
class ParentChunkSource final : public ChunkSource {
 public:
  ParentChunkSource(ChunkIndex metadata_index, ReplicaSet* uploaders, CallRegistry* calls,
                    RemoteChunkSourceOptions options)
      : index_(std::move(metadata_index)),
        remote_(uploaders, nullptr, calls, options),
        ahead_(&index_, &remote_, 4, 2) {}

  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override {
    return ahead_.GetChunk(digest, expected_length);
  }

 private:
  ChunkIndex index_;
  RemoteChunkSource remote_;
  ReadAheadChunkSource ahead_;  // last: destroyed (joined) first
};

// The parent snapshot through the uploaders.
absl::StatusOr<std::unique_ptr<ParentSnapshot>> OpenParent(const std::string& id,
                                                           ReplicaSet* uploaders,
                                                           CallRegistry* calls,
                                                           const CollectorOptions& options) {
  v1::GetSnapshotResponse snap;
  RETURN_IF_ERROR(uploaders->Run(
      [&](size_t i) -> absl::Status {
        auto stub = v1::Uploader::NewStub(uploaders->channel(i));
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.call_timeout));
        CallRegistry::Scoped reg(calls, &ctx);
        v1::GetSnapshotRequest req;
        req.set_id(id);
        return rpc::FromGrpcStatus(stub->GetSnapshot(&ctx, req, &snap));
      },
      [calls] { return calls->status(); }));
  RemoteChunkSourceOptions source_options;
  source_options.call_timeout = options.call_timeout;
  const std::string& meta = snap.metadata_index().data();
  absl::StatusOr<ChunkIndex> meta_index = ChunkIndex::Decode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(meta.data()), meta.size()),
      v1::STREAM_KIND_METADATA, absl::StrCat(id, "/metadata.aidx"));
  if (!meta_index.ok()) return meta_index.status();
  return ParentSnapshot::FromIndexes(snap.snapshot().id().empty() ? id : snap.snapshot().id(), meta,
                                     snap.payload_index().data(),
                                     std::make_unique<ParentChunkSource>(
                                         *std::move(meta_index), uploaders, calls, source_options));
}

// Counts what one Collect event sends: entries by type (live), and from the
// final CollectDone the job's read / reused / skipped totals.
void CountEvent(metrics::CollectorMetrics& m, const v1::CollectEvent& event) {
  switch (event.event_case()) {
    case v1::CollectEvent::kEntry:
      m.Entries(event.entry().type()).Increment();
      break;
    case v1::CollectEvent::kBatch:
      for (const v1::CollectEvent& item : event.batch().events()) CountEvent(m, item);
      break;
    case v1::CollectEvent::kDone: {
      const v1::BackupStats& stats = event.done().stats();
      m.read_bytes.Increment(static_cast<double>(stats.bytes_read()));
      m.reused_bytes.Increment(static_cast<double>(stats.bytes_reused()));
      m.reused_files.Increment(static_cast<double>(stats.files_reused()));
      m.skipped_files.Increment(static_cast<double>(stats.files_skipped()));
      break;
    }
    default:
      break;
  }
}

// The message as gRPC slices, without copying: one slice owns the header
// string, one each of the data buffers, and every part is a sub-slice of
// them (freed when gRPC has sent the message and dropped its references).
grpc::ByteBuffer ToByteBuffer(WireMessage wire) {
  std::vector<grpc::Slice> owners;
  owners.reserve(1 + wire.buffers.size());
  auto* header = new std::string(std::move(wire.header));
  owners.emplace_back(
      header->data(), header->size(), [](void* p) { delete static_cast<std::string*>(p); }, header);
  for (ByteBuffer& b : wire.buffers) {
    auto* owned = new ByteBuffer(std::move(b));
    owners.emplace_back(
        owned->data(), owned->size(), [](void* p) { delete static_cast<ByteBuffer*>(p); }, owned);
  }
  std::vector<grpc::Slice> slices;
  slices.reserve(wire.parts.size());
  for (const WireMessage::Part& p : wire.parts) {
    const grpc::Slice& owner = owners[p.buffer == WireMessage::Part::kHeader ? 0 : p.buffer + 1];
    slices.push_back(owner.sub(p.offset, p.offset + p.size));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace

metrics::CollectorMetrics& CollectorServiceMetrics() {
  // One catalog per process, never destroyed (like the registry).
  static metrics::CollectorMetrics* const m =
      new metrics::CollectorMetrics(*metrics::ProcessRegistry());
  return *m;
}

absl::Status RunCollect(const v1::CollectRequest& request, const CollectorOptions& options,
                        const CancelToken* cancel, CallRegistry* calls,
                        const CollectEventSink::Emit& emit) {
  fs::FileSystem* fs = options.fs != nullptr ? options.fs : fs::DefaultFileSystem();
  const std::string& source = request.source();
  // --- validate -----------------------------------------------------------------
  if (!request.downstream().empty()) {
    return Collection(absl::UnimplementedError(
        absl::StrCat("CollectRequest.downstream (", request.downstream(),
                     ") is not implemented: leave it empty and read the events from this stream")));
  }
  absl::StatusOr<CheckedSource> checked = SourceAndExcludes(request, options);
  if (!checked.ok()) return checked.status();
  // Commands by name only; their command lines are the node's (--commands-file).
  std::vector<CommandSpec> requested;
  for (const v1::Command& c : request.commands()) {
    requested.push_back({c.name(), c.command_line(), c.critical()});
  }
  absl::StatusOr<std::vector<CommandSpec>> resolved = ResolveCommands(requested, options.commands);
  if (!resolved.ok()) return Collection(resolved.status());
  const std::vector<CommandSpec>& commands = *resolved;
  if (!request.parent_snapshot().empty() && request.uploaders().empty()) {
    return Collection(absl::InvalidArgumentError(
        absl::StrCat("parent snapshot ", request.parent_snapshot(),
                     " given without uploaders to read it from: set CollectRequest.uploaders")));
  }
  // The parent chunks the chunker found missing (self-healing): sent by a
  // trusted role, still checked.
  if (request.missing_parent_chunks_size() > static_cast<int>(kMaxMissingParentChunks)) {
    return Collection(absl::InvalidArgumentError(absl::StrCat(
        "CollectRequest.missing_parent_chunks lists ", request.missing_parent_chunks_size(),
        " digests; at most ", kMaxMissingParentChunks,
        " are allowed (set parent_chunks_unusable instead)")));
  }
  absl::flat_hash_set<Digest> missing_parent_chunks;
  for (int i = 0; i < request.missing_parent_chunks_size(); ++i) {
    absl::StatusOr<Digest> d = Digest::FromRaw(request.missing_parent_chunks(i));
    if (!d.ok()) {
      return Collection(absl::InvalidArgumentError(absl::StrCat(
          "CollectRequest.missing_parent_chunks #", i, " is ",
          request.missing_parent_chunks(i).size(), " bytes; expected a 32-byte SHA-256 digest")));
    }
    missing_parent_chunks.insert(*d);
  }
  RETURN_IF_ERROR(SourceIsDirectory(fs, source));

  // --- the parent snapshot (change detection) -----------------------------------
  std::vector<v1::Warning> parent_warnings;
  std::unique_ptr<ReplicaSet> uploaders;
  std::unique_ptr<ParentSnapshot> parent;
  if (!request.parent_snapshot().empty()) {
    absl::StatusOr<std::unique_ptr<ReplicaSet>> u = Uploaders(request, options);
    if (!u.ok()) return Collection(u.status());
    uploaders = *std::move(u);
    absl::StatusOr<std::unique_ptr<ParentSnapshot>> p =
        OpenParent(request.parent_snapshot(), uploaders.get(), calls, options);
    if (p.ok()) {
      parent = *std::move(p);
    } else if (cancel->cancelled()) {
      return Collection(cancel->Check("collection"));
    } else if (request.parent_required()) {
      return Collection(absl::Status(
          p.status().code(),
          absl::StrCat("parent snapshot ", request.parent_snapshot(), ": ", p.status().message())));
    } else {
      v1::Warning w = MakeDataMissingWarning(
          v1::PHASE_ARCHIVE, "",
          absl::StrCat("parent snapshot ", request.parent_snapshot(), " is unusable (",
                       p.status().message(), "): every file is read"));
      w.set_data_missing(false);
      parent_warnings.push_back(std::move(w));
    }
  }

  // --- commands and the walk (libs/pipeline/collection.h) --------------------------
  CollectEventSink sink(emit, options.batch_bytes);
  CollectionOutput output;
  output.warnings = std::move(parent_warnings);
  sink.WatchWarnings(&output.warnings);
  CollectionPlan plan;
  plan.source = checked->canonical;
  plan.excludes = &checked->excludes;
  plan.one_file_system = request.one_file_system();
  plan.commands = commands;
  plan.parent = parent.get();
  if (parent != nullptr && request.parent_chunks_unusable()) {
    // Too many parent chunks missing to list: none is reused.
    plan.parent_chunk_present = [](const Digest&) -> absl::StatusOr<bool> { return false; };
  } else if (parent != nullptr && !missing_parent_chunks.empty()) {
    plan.parent_chunk_present = [&missing_parent_chunks](const Digest& d) -> absl::StatusOr<bool> {
      return !missing_parent_chunks.contains(d);
    };
  }
  plan.parent_required = request.parent_required();
  plan.ignore_ctime = request.ignore_ctime();
  plan.align_threshold = request.align_threshold() != 0 ? request.align_threshold() : (1u << 20);
  absl::Status run = RunCollection(
      plan, fs, &sink, [&sink](const v1::CommandResult& c) { return sink.AddCommand(c); }, cancel,
      nullptr, &output);
  if (!run.ok()) {
    if (cancel->cancelled()) return Collection(cancel->Check("collection"));
    return Collection(run);
  }
  v1::CollectDone done;
  done.set_entries(sink.entries());
  done.set_bytes(output.stats.bytes_read() + output.command_bytes);
  *done.mutable_stats() = output.stats;
  return Collection(sink.Finish(std::move(done)));
}

absl::StatusOr<uint64_t> RunEstimateCollect(const v1::CollectRequest& request,
                                            const CollectorOptions& options) {
  fs::FileSystem* fs = options.fs != nullptr ? options.fs : fs::DefaultFileSystem();
  const std::string& source = request.source();
  absl::StatusOr<CheckedSource> checked = SourceAndExcludes(request, options);
  if (!checked.ok()) return checked.status();
  RETURN_IF_ERROR(SourceIsDirectory(fs, source));
  absl::StatusOr<uint64_t> bytes =
      EstimateSourceBytes(fs, checked->canonical, &checked->excludes, request.one_file_system());
  if (!bytes.ok()) return Collection(bytes.status());
  return *bytes;
}

CollectorService::CollectorService(CollectorOptions options) : options_(std::move(options)) {
  CollectorServiceMetrics();  // every series exists (at 0) from the start
  // Method 0 is Collect (protos/arca/v1/collector.proto; the generated
  // WithSplitStreamingMethod_Collect does the same with typed messages).
  MarkMethodStreamed(
      0, new grpc::internal::SplitServerStreamingHandler<v1::CollectRequest, grpc::ByteBuffer>(
             [this](grpc::ServerContext* context,
                    grpc::ServerSplitStreamer<v1::CollectRequest, grpc::ByteBuffer>* stream) {
               return StreamCollect(context, stream);
             }));
}

grpc::Status CollectorService::EstimateCollect(grpc::ServerContext* context,
                                               const v1::CollectRequest* request,
                                               v1::CollectEstimate* response) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<uint64_t> bytes = RunEstimateCollect(*request, options_);
  absl::Status st = bytes.status();
  if (st.ok() && context->IsCancelled()) {
    st = Collection(absl::CancelledError("the chunker cancelled the estimate"));
  }
  if (st.ok()) response->set_bytes(*bytes);
  CollectorServiceMetrics().errors.Record(st, v1::PHASE_COLLECTION);
  LogLine(options_.program,
          absl::StrCat(
              "job ", request->job_id(), ": estimate of ", request->source(),
              st.ok() ? absl::StrCat(": ", *bytes, " bytes") : absl::StrCat(": ", st.ToString()),
              " in ", SecondsSince(start), " s"));
  return rpc::ToGrpcStatus(st);
}

grpc::Status CollectorService::StreamCollect(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<v1::CollectRequest, grpc::ByteBuffer>* stream) {
  const auto start = std::chrono::steady_clock::now();
  metrics::CollectorMetrics& m = CollectorServiceMetrics();
  metrics::GaugeInFlight running(m.streams_running);
  v1::CollectRequest request;
  if (!stream->Read(&request)) {
    absl::Status st = Collection(
        absl::InvalidArgumentError("Collect: no valid CollectRequest arrived (the client "
                                   "went away, or sent bytes that are not a CollectRequest)"));
    m.errors.Record(st, v1::PHASE_COLLECTION);
    return rpc::ToGrpcStatus(st);
  }
  CancelToken cancel;
  CallRegistry calls;
  CancelWatcher watcher(
      [context] { return context->IsCancelled(); },
      [&] {
        cancel.Cancel();
        calls.CancelAll(absl::CancelledError("the chunker cancelled the collection"));
      });
  uint64_t bytes_sent = 0;
  auto emit = [&](const v1::CollectEvent& event, WireMessage wire) -> absl::Status {
    const size_t size = wire.size();
    if (!stream->Write(ToByteBuffer(std::move(wire)))) {
      cancel.Cancel();
      return absl::CancelledError(
          "the chunker went away: the Collect stream is closed (cancelled or its deadline passed)");
    }
    bytes_sent += size;
    CountEvent(m, event);
    return absl::OkStatus();
  };
  absl::Status st = RunCollect(request, options_, &cancel, &calls, emit);
  m.errors.Record(st, v1::PHASE_COLLECTION);
  LogLine(options_.program,
          absl::StrCat("job ", request.job_id(), ": collect ", request.source(),
                       st.ok() ? ": done" : absl::StrCat(": ", st.ToString()), " (", bytes_sent,
                       " bytes sent in ", SecondsSince(start), " s)"));
  return rpc::ToGrpcStatus(st);
}

grpc::Status CollectorService::WriteTree(grpc::ServerContext* context,
                                         grpc::ServerReader<v1::WriteTreeRequest>* reader,
                                         v1::WriteTreeResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  metrics::CollectorMetrics& m = CollectorServiceMetrics();
  metrics::GaugeInFlight running(m.streams_running);
  v1::WriteTreeRequest msg;
  if (!reader->Read(&msg) || !msg.has_target()) {
    absl::Status st = WithPhase(
        absl::InvalidArgumentError("WriteTree: the first message must carry the RestoreTarget"),
        v1::PHASE_RESTORE);
    m.errors.Record(st, v1::PHASE_RESTORE);
    return rpc::ToGrpcStatus(st);
  }
  const v1::RestoreTarget target = msg.target();
  absl::Status st = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<WriteTreeSession> session,
                     WriteTreeSession::Open(target, options_.restore_roots));
    absl::Status s = [&]() -> absl::Status {
      while (reader->Read(&msg)) RETURN_IF_ERROR(session->Apply(msg));
      if (context->IsCancelled()) {
        return WithPhase(absl::CancelledError("the restore was cancelled by the chunker"),
                         v1::PHASE_RESTORE);
      }
      return session->Finish();
    }();
    *response = session->Response();
    return s;
  }();
  // What was written, also by a restore that failed part way.
  m.written_entries.Increment(static_cast<double>(response->entries_written()));
  m.written_bytes.Increment(static_cast<double>(response->bytes_written()));
  m.errors.Record(st, v1::PHASE_RESTORE);
  LogLine(options_.program,
          absl::StrCat(
              "job ", target.job_id(), ": write tree ", target.target(),
              st.ok() ? ": done" : absl::StrCat(": ", st.ToString()), " (",
              response->entries_written(), " entries, ", response->bytes_written(), " bytes",
              response->entries_abandoned() > 0
                  ? absl::StrCat(", ", response->entries_abandoned(), " damaged files given up")
                  : "",
              " in ", SecondsSince(start), " s)"));
  return rpc::ToGrpcStatus(st);
}

}  // namespace arca::services
