// The gRPC ports of the backup job (libs/pipeline/backup_ports.h): the
// distributed pipeline as the chunker drives it.
//
//   RemoteSnapshotRepository  the repository behind the uploader replicas
//                             (GetConfig, GetSnapshot, ListSnapshots,
//                             GetSpace, CommitSnapshot; failover on replica
//                             failures, one attempt for the commit)
//   RemoteEntrySource         a collector replica: EstimateCollect, and
//                             Collect read as raw messages and applied to the
//                             archive (CollectEventApplier)
//   RemoteChunkDestination    RemoteChunkWriter over the compressor and
//                             uploader replicas
//
// Every call has a deadline (the job's, capped by the caller's) and is
// registered in the job's CallRegistry, so cancelling the job cancels it.
#ifndef ARCA_SERVICES_CHUNKER_REMOTE_BACKUP_PORTS_H_
#define ARCA_SERVICES_CHUNKER_REMOTE_BACKUP_PORTS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "arca/v1/chunker.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "libs/base/phase_status.h"
#include "libs/crypto/repository_key.h"
#include "libs/pipeline/backup_ports.h"
#include "libs/pipeline/remote/call_registry.h"
#include "libs/pipeline/remote/replica_set.h"
#include "libs/rpc/status_convert.h"
#include "services/chunker/remote_chunk_writer.h"

namespace arca::services {

// now + d, capped at `cap`.
std::chrono::system_clock::time_point DeadlineIn(absl::Duration d, absl::Time cap);

// A unary call to any live uploader (failover on replica failures). The
// error names the call and the uploader and keeps the phase the uploader
// attached.
template <typename Req, typename Resp, typename Method>
absl::Status UploaderCall(ReplicaSet* uploaders, CallRegistry* calls, absl::Duration timeout,
                          absl::Time cap, const char* name, Method method, const Req& req,
                          Resp* resp) {
  return uploaders->Run(
      [&](size_t i) -> absl::Status {
        auto stub = v1::Uploader::NewStub(uploaders->channel(i));
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(timeout, cap));
        CallRegistry::Scoped reg(calls, &ctx);
        resp->Clear();
        absl::Status s = rpc::FromGrpcStatus(((*stub).*method)(&ctx, req, resp));
        if (!s.ok()) {
          absl::Status out(s.code(), absl::StrCat(name, " on uploader ", uploaders->address(i),
                                                  ": ", s.message()));
          if (PhaseOf(s) != v1::PHASE_UNSPECIFIED) out = WithPhase(out, PhaseOf(s));
          return out;
        }
        return absl::OkStatus();
      },
      [calls] { return calls->status(); });
}

// Digests per Uploader.HasChunks call when the parent's chunks are checked
// (32 bytes each: 128 KiB a request).
inline constexpr size_t kHasChunksBatch = 4096;

// Timeouts of the remote ports.
struct RemoteCallTimeouts {
  absl::Duration call = absl::Seconds(60);       // unary calls
  absl::Duration commit = absl::Minutes(10);     // CommitSnapshot
  absl::Duration job = absl::Hours(24);          // the Collect stream, EstimateCollect
  absl::Time deadline = absl::InfiniteFuture();  // the caller's: caps every call
};

// The id key of an encrypted repository from an uploader replica
// (Uploader.GetChunkIdKey): a RepositoryKey without data key
// (RepositoryKey::FromIdKey). Errors: the uploaders' (PHASE_UPLOAD);
// FAILED_PRECONDITION + PHASE_SETUP when the uploader has no key to give or
// sends a malformed one.
absl::StatusOr<RepositoryKey> FetchChunkIdKey(ReplicaSet* uploaders, CallRegistry* calls,
                                              const RemoteCallTimeouts& timeouts);

class RemoteSnapshotRepository final : public SnapshotRepository {
 public:
  // uploaders and calls are not owned.
  RemoteSnapshotRepository(ReplicaSet* uploaders, CallRegistry* calls, RemoteCallTimeouts timeouts,
                           std::string job_id)
      : uploaders_(uploaders), calls_(calls), timeouts_(timeouts), job_id_(std::move(job_id)) {}

  // The uploaders' config (GetConfig). For an encrypted repository the id
  // key is fetched too (once per job, FetchChunkIdKey) and the config is
  // ChunkingConfig(config, key): the gear table seeded from the key.
  absl::StatusOr<v1::RepositoryConfig> Config() override;
  // The id key once Config() found the repository encrypted; null before,
  // and for a plaintext repository.
  const RepositoryKey* key() const { return key_.has_value() ? &*key_ : nullptr; }
  absl::StatusOr<SnapshotSummary> GetSnapshot(const std::string& id) override;
  absl::StatusOr<std::optional<SnapshotSummary>> LatestSnapshot(const std::string& group) override;
  // The smallest free space of the live uploader replicas (a chunk may land
  // on any of them) and the largest compression ratio they report. A replica
  // that is down is left out; one too old to answer (UNIMPLEMENTED) is a
  // notice. FAILED_PRECONDITION + PHASE_SETUP when an uploader cannot stat
  // its repository (exit 4); no uploader answering: PHASE_UPLOAD.
  absl::StatusOr<std::optional<SpaceReport>> Space(std::vector<v1::Warning>* notices) override;
  // Registers the job as a writer on every live uploader replica
  // (Uploader.HoldWrite: a lock file in the repository for as long as the
  // call is open); released when the port is destroyed. A replica that is
  // down is skipped, one too old to know HoldWrite (UNIMPLEMENTED) too; any
  // other refusal is FAILED_PRECONDITION + PHASE_SETUP (exit 4).
  absl::Status BeginWrite(const std::string& description) override;
  ~RemoteSnapshotRepository() override;
  absl::StatusOr<v1::Manifest> Commit(const v1::Manifest& manifest, std::string metadata_index,
                                      std::string payload_index) override;

 private:
  ReplicaSet* uploaders_;
  CallRegistry* calls_;
  RemoteCallTimeouts timeouts_;
  std::string job_id_;
  std::optional<RepositoryKey> key_;  // id key only
  struct Hold {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::HoldWriteEvent>> reader;
  };
  std::vector<Hold> holds_;
};

class RemoteEntrySource final : public EntrySource {
 public:
  // The plan's source, excludes, one_file_system, commands (by name),
  // ignore_ctime and uploaders (the collector reads the parent through
  // them); collector, uploaders and calls not owned. `uploaders` are asked
  // which parent chunks are missing before Collect (self-healing).
  RemoteEntrySource(const v1::BackupPlan& plan, ReplicaSet* collector, ReplicaSet* uploaders,
                    CallRegistry* calls, RemoteCallTimeouts timeouts)
      : plan_(plan),
        collector_(collector),
        uploaders_(uploaders),
        calls_(calls),
        timeouts_(timeouts) {}

  absl::StatusOr<uint64_t> EstimateBytes(const std::string& parent_id) override;
  absl::StatusOr<CollectResult> Collect(
      const CollectParams& params, ArchiveSink* archive, Progress* progress,
      const std::function<void(const v1::Warning&)>& on_warning) override;

 private:
  v1::CollectRequest Request() const;
  absl::Status Named(const absl::Status& st) const;
  // Self-healing, as ChunkStore::Has does for the embedded collection: asks
  // the uploaders (HasChunks, kHasChunksBatch digests a call) which of the
  // parent's distinct payload chunks are missing (moved aside by a verify,
  // or lost) and lists them in `req->missing_parent_chunks`, so the
  // collector reads the files that would reuse them. More than
  // kMaxMissingParentChunks: `parent_chunks_unusable` and a warning. A
  // parent whose indexes cannot be read is left to the collector (its
  // warning, or its error when the parent is required). Errors: the
  // uploaders' (PHASE_UPLOAD), CANCELLED.
  absl::Status ListMissingParentChunks(const std::string& parent_id, v1::CollectRequest* req,
                                       const std::function<void(const v1::Warning&)>& on_warning);

  const v1::BackupPlan& plan_;
  ReplicaSet* collector_;
  ReplicaSet* uploaders_;
  CallRegistry* calls_;
  RemoteCallTimeouts timeouts_;
};

class RemoteChunkDestination final : public ChunkDestination {
 public:
  // Everything not owned; `options` without codec and level (Open sets them).
  RemoteChunkDestination(ReplicaSet* compressors, ReplicaSet* uploaders, CallRegistry* calls,
                         WorkerPool* hash_pool, RemoteChunkWriterOptions options)
      : compressors_(compressors),
        uploaders_(uploaders),
        calls_(calls),
        hash_pool_(hash_pool),
        options_(options) {}

  // `repository` (not owned; may be null) gives the id key of an encrypted
  // repository to the writer (its Config() runs before Open).
  void set_key_source(const RemoteSnapshotRepository* repository) { key_source_ = repository; }
  absl::StatusOr<ChunkSink*> Open(v1::Codec codec, int level) override;
  // The writer Open made (null before): its detailed statistics.
  RemoteChunkWriter* writer() const { return writer_.get(); }

 private:
  ReplicaSet* compressors_;
  ReplicaSet* uploaders_;
  CallRegistry* calls_;
  WorkerPool* hash_pool_;
  RemoteChunkWriterOptions options_;
  const RemoteSnapshotRepository* key_source_ = nullptr;
  std::unique_ptr<RemoteChunkWriter> writer_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_CHUNKER_REMOTE_BACKUP_PORTS_H_
