#include "services/uploader/uploader_service.h"

#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/base/labels.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/blob/sealed_blob.h"
#include "libs/hash/digest.h"
#include "libs/metrics/registry.h"
#include "libs/store/snapshot_page.h"
#include "services/common/work_stream_reactor.h"
#include "services/uploader/commit_time.h"
#include "services/uploader/uploader_maintenance.h"

namespace arca::services {

metrics::UploaderMetrics& UploaderServiceMetrics() {
  // One catalog per process, never destroyed (like the registry).
  static metrics::UploaderMetrics* const m =
      new metrics::UploaderMetrics(*metrics::ProcessRegistry());
  return *m;
}

namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::Status Upload(absl::Status status) { return WithPhase(std::move(status), v1::PHASE_UPLOAD); }
absl::Status Commit(absl::Status status) { return WithPhase(std::move(status), v1::PHASE_COMMIT); }

// PutChunks: check, Put, then ack once the group flush has made it durable.
class PutChunksReactor final : public BidiWorkReactor<v1::Blob, v1::PutChunkAck> {
 public:
  PutChunksReactor(ChunkStore* store, const RepositoryKey* key, WorkerPool* pool,
                   FlushBatcher* batcher, size_t max_in_flight, BlobCheck check)
      : BidiWorkReactor(max_in_flight),
        metrics_(UploaderServiceMetrics()),
        running_(metrics_.streams_running),
        store_(store),
        key_(key),
        check_(check),
        pool_(pool),
        batcher_(batcher),
        max_in_flight_(max_in_flight) {
    Begin();
  }

 private:
  void StartWork(uint64_t seq, v1::Blob blob) override {
    pool_->Submit([this, seq, blob = std::move(blob)]() mutable {
      const uint64_t blob_size = blob.data().size();
      absl::StatusOr<v1::PutChunkAck> ack = CheckAndPut(*store_, std::move(blob), check_, key_);
      if (!ack.ok()) {
        CountError(ack.status());
        Complete(seq, ack.status());
        return;
      }
      const uint64_t bytes = ack->stored_bytes();
      const bool present = ack->already_present();
      // When every slot of this stream waits for its ack, nothing more will
      // arrive before a flush: flush now rather than after the delay.
      const bool stream_full = awaiting_ack_.fetch_add(1) + 1 >= max_in_flight_;
      batcher_->AfterPut(
          bytes, stream_full || input_closed_.load(),
          [this, seq, ack = *std::move(ack), bytes, present,
           blob_size](absl::Status flushed) mutable {
            awaiting_ack_.fetch_sub(1);
            if (flushed.ok()) {
              // Counted once durable, as the ack says.
              if (present) {
                metrics_.deduplicated_chunks.Increment();
                metrics_.deduplicated_bytes.Increment(static_cast<double>(blob_size));
              } else {
                metrics_.written_chunks.Increment();
                metrics_.written_bytes.Increment(static_cast<double>(bytes));
              }
              Complete(seq, std::move(ack));
            } else {
              absl::Status failed = Upload(std::move(flushed));
              CountError(failed);
              Complete(seq, std::move(failed));
            }
          });
    });
  }

  // The client sent its last blob and waits for the acks: flush now.
  void OnInputClosed() override {
    input_closed_.store(true);
    batcher_->FlushSoon();
  }

  void DepthChanged(int64_t delta) override {
    metrics_.chunks_in_flight.Increment(static_cast<double>(delta));
  }
  // The stream's first failure (the one that ends it), once: a failed group
  // flush fails every chunk waiting for it.
  void CountError(const absl::Status& status) {
    if (!error_counted_.exchange(true)) metrics_.errors.Record(status, v1::PHASE_UPLOAD);
  }

  metrics::UploaderMetrics& metrics_;
  metrics::GaugeInFlight running_;  // arca_uploader_streams_running
  std::atomic<bool> error_counted_{false};
  ChunkStore* const store_;
  const RepositoryKey* const key_;  // null: a plaintext repository
  const BlobCheck check_;
  WorkerPool* const pool_;
  FlushBatcher* const batcher_;
  const size_t max_in_flight_;
  std::atomic<bool> input_closed_{false};
  std::atomic<size_t> awaiting_ack_{0};  // stored, waiting for the group flush
};

// GetChunks: blobs in request order, a few fetched ahead.
class GetChunksReactor final : public ServerStreamWorkReactor<Digest, v1::Blob> {
 public:
  GetChunksReactor(ChunkStore* store, const RepositoryKey* key, WorkerPool* pool,
                   std::vector<Digest> digests, size_t max_in_flight)
      : ServerStreamWorkReactor(std::move(digests), max_in_flight),
        metrics_(UploaderServiceMetrics()),
        running_(metrics_.streams_running),
        store_(store),
        key_(key),
        pool_(pool) {
    Begin();
  }

 private:
  void StartWork(uint64_t seq, Digest digest) override {
    pool_->Submit([this, seq, digest] {
      absl::StatusOr<std::string> data = store_->Get(digest);
      if (!data.ok()) {
        // NotFound "chunk <hex> is missing from ..." / DataLoss (read error).
        if (!error_counted_.exchange(true)) {
          metrics_.errors.Record(data.status(), v1::PHASE_RESTORE);
        }
        Complete(seq, data.status());
        return;
      }
      metrics_.read_chunks.Increment();
      metrics_.read_bytes.Increment(static_cast<double>(data->size()));
      if (key_ != nullptr) {
        // Encrypted: the GCM tag (which binds the id) is checked here; the
        // callers get the inner format 1 blob. One that does not open is
        // DataLoss "blob <hex>: ..." (the code a corrupt blob gets when it
        // is decoded).
        absl::StatusOr<std::string> opened = OpenChunkBlob(Bytes(*data), digest, key_);
        if (!opened.ok()) {
          if (!error_counted_.exchange(true)) {
            metrics_.errors.Record(opened.status(), v1::PHASE_RESTORE);
          }
          Complete(seq, opened.status());
          return;
        }
        *data = *std::move(opened);
      }
      v1::Blob blob;
      blob.mutable_ref()->set_digest(std::string(digest.Raw()));
      blob.set_keyed_id(key_ != nullptr);
      // raw_length from the header when it parses; a damaged blob is sent as
      // stored and reported by whoever decodes it (verify names it).
      if (absl::StatusOr<BlobHeader> header = ParseBlobHeader(Bytes(*data)); header.ok()) {
        blob.mutable_ref()->set_raw_length(header->raw_length);
      }
      blob.set_data(*std::move(data));
      Complete(seq, std::move(blob));
    });
  }

  void DepthChanged(int64_t delta) override {
    metrics_.chunks_in_flight.Increment(static_cast<double>(delta));
  }

  metrics::UploaderMetrics& metrics_;
  metrics::GaugeInFlight running_;          // arca_uploader_streams_running
  std::atomic<bool> error_counted_{false};  // one error per stream
  ChunkStore* const store_;
  const RepositoryKey* const key_;  // null: a plaintext repository
  WorkerPool* const pool_;
};

// Decodes one index of a commit request. InvalidArgument if missing or bad.
absl::StatusOr<ChunkIndex> DecodeIndex(const v1::IndexBlob& blob, v1::StreamKind kind,
                                       const char* field) {
  if (blob.data().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit: ", field, " is missing: send the encoded index of the stream"));
  }
  if (blob.stream() != v1::STREAM_KIND_UNSPECIFIED && blob.stream() != kind) {
    return absl::InvalidArgumentError(absl::StrCat("commit: ", field, " says stream ",
                                                   v1::StreamKind_Name(blob.stream()),
                                                   ", expected ", v1::StreamKind_Name(kind)));
  }
  absl::StatusOr<ChunkIndex> index = ChunkIndex::Decode(Bytes(blob.data()), kind, field);
  if (!index.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("commit: ", index.status().message()));
  }
  return index;
}

}  // namespace

absl::StatusOr<v1::PutChunkAck> CheckAndPut(ChunkStore& store, v1::Blob blob, BlobCheck check,
                                            const RepositoryKey* key) {
  absl::StatusOr<Digest> digest = Digest::FromRaw(blob.ref().digest());
  if (!digest.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PutChunks: a blob without a valid digest (", blob.ref().digest().size(),
                     " bytes): set ref.digest to the chunk's 32-byte SHA-256"));
  }
  const std::string hex = digest->Hex();
  if (blob.data().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PutChunks: blob ", hex, " is empty: send the whole blob file"));
  }
  // Keyed ids and SHA-256 ids never mix in one repository.
  if (key != nullptr && !blob.keyed_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PutChunks: blob ", hex,
        " is named by a SHA-256 but the repository is encrypted: its chunks are named by the "
        "keyed id (the chunker gets the id key with GetChunkIdKey and sets keyed_id); not stored"));
  }
  if (key == nullptr && blob.keyed_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PutChunks: blob ", hex,
        " is named by a keyed id but the repository is not encrypted: name chunks by their "
        "SHA-256; not stored"));
  }
  absl::StatusOr<BlobHeader> header = ParseBlobHeader(Bytes(blob.data()));
  if (!header.ok()) {
    return absl::DataLossError(absl::StrCat("chunk ", hex, ": ", header.status().message(),
                                            "; not stored, resend the chunk"));
  }
  if (blob.ref().raw_length() != 0 && blob.ref().raw_length() != header->raw_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("PutChunks: blob ", hex, ": ref.raw_length says ", blob.ref().raw_length(),
                     " bytes but the blob header says ", header->raw_length));
  }
  absl::Status checked;
  if (check == BlobCheck::kFull) {
    // A chunk already stored was checked when it was written. A wrong
    // "absent" (object storage, stored by another replica since this one
    // listed) costs a decode; Put then finds it.
    absl::StatusOr<bool> present = store.HasCheap(*digest);
    if (!present.ok()) return Upload(present.status());
    if (*present) {
      v1::PutChunkAck ack;
      ack.set_digest(std::string(digest->Raw()));
      ack.set_already_present(true);
      return ack;
    }
    // CRC32C, decompression, SHA-256 (or, encrypted, the keyed id) of the
    // plaintext.
    checked = DecodeOpenedChunkBlob(Bytes(blob.data()), *digest, key).status();
  } else {
    checked = CheckBlobFrame(Bytes(blob.data()), *digest).status();
  }
  if (!checked.ok()) {
    return absl::DataLossError(absl::StrCat(checked.message(), "; not stored, resend the chunk"));
  }
  // Encrypted: stored sealed (format 2) under the keyed id.
  std::string sealed;
  if (key != nullptr) {
    sealed = SealBlob(*key, SealedKind::kChunk, SealedChunkName(*digest), blob.data());
    blob.clear_data();
  }
  const std::string& stored = key != nullptr ? sealed : blob.data();
  absl::StatusOr<bool> written = store.Put(*digest, stored);
  if (!written.ok()) return Upload(written.status());
  v1::PutChunkAck ack;
  ack.set_digest(std::string(digest->Raw()));
  ack.set_already_present(!*written);
  ack.set_stored_bytes(*written ? stored.size() : 0);
  return ack;
}

absl::StatusOr<v1::HasChunksResponse> HasChunks(ChunkStore& store,
                                                const v1::HasChunksRequest& request) {
  v1::HasChunksResponse response;
  response.mutable_present()->Reserve(request.digests_size());
  for (int i = 0; i < request.digests_size(); ++i) {
    absl::StatusOr<Digest> digest = Digest::FromRaw(request.digests(i));
    if (!digest.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("HasChunks: digest #", i, " is ",
                                                     request.digests(i).size(),
                                                     " bytes; expected a 32-byte SHA-256"));
    }
    absl::StatusOr<bool> present =
        request.may_miss() ? store.HasCheap(*digest) : store.Has(*digest);
    if (!present.ok()) return Upload(present.status());
    response.add_present(*present);
  }
  return response;
}

v1::SnapshotInfo SnapshotInfoOf(const v1::Manifest& manifest) {
  v1::SnapshotInfo info;
  info.set_id(manifest.id());
  info.set_group(manifest.group());
  info.set_host(manifest.host());
  *info.mutable_sources() = manifest.sources();
  info.set_time_unix_ns(manifest.time_unix_ns());
  *info.mutable_stats() = manifest.stats();
  *info.mutable_labels() = manifest.labels();
  return info;
}

absl::StatusOr<v1::CommitSnapshotResponse> CommitSnapshot(Repository& repo,
                                                          const v1::CommitSnapshotRequest& request,
                                                          absl::Time now,
                                                          absl::Duration max_clock_skew) {
  v1::Manifest manifest = request.manifest();
  if (!request.group().empty()) manifest.set_group(request.group());
  if (!request.host().empty()) manifest.set_host(request.host());
  if (!request.source().empty()) {
    manifest.clear_sources();
    manifest.add_sources(request.source());
  }
  if (request.has_stats()) *manifest.mutable_stats() = request.stats();
  for (const auto& [key, value] : request.options()) (*manifest.mutable_options())[key] = value;
  if (manifest.host().empty()) {
    return absl::InvalidArgumentError("commit: no host: set host (or manifest.host)");
  }
  if (manifest.sources().empty() || manifest.sources(0).empty()) {
    return absl::InvalidArgumentError("commit: no source: set source (or manifest.sources)");
  }
  if (manifest.time_unix_ns() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit: negative time_unix_ns ", manifest.time_unix_ns()));
  }
  // The labels are another service's bytes: checked before they reach disk.
  if (absl::Status st = CheckLabels(manifest.labels(), "commit: manifest.labels"); !st.ok()) {
    return st;
  }
  // A future-dated snapshot would be `latest` (and every later backup's
  // parent) until its time comes.
  if (absl::Status st = CheckSnapshotTime(manifest.time_unix_ns(), now, max_clock_skew); !st.ok()) {
    return Commit(std::move(st));
  }
  absl::StatusOr<ChunkIndex> metadata =
      DecodeIndex(request.metadata_index(), v1::STREAM_KIND_METADATA, "metadata_index");
  if (!metadata.ok()) return metadata.status();
  absl::StatusOr<ChunkIndex> payload =
      DecodeIndex(request.payload_index(), v1::STREAM_KIND_PAYLOAD, "payload_index");
  if (!payload.ok()) return payload.status();

  // Every referenced chunk must be stored before the snapshot may exist.
  absl::flat_hash_set<Digest> checked;
  for (const auto& [index, name] :
       {std::pair{&*metadata, "metadata"}, std::pair{&*payload, "payload"}}) {
    for (size_t i = 0; i < index->size(); ++i) {
      const Digest& digest = index->entries()[i].digest;
      if (!checked.insert(digest).second) continue;
      absl::StatusOr<bool> present = repo.chunks()->Has(digest);
      if (!present.ok()) return Commit(present.status());
      if (!*present) {
        return Commit(absl::FailedPreconditionError(absl::StrCat(
            "commit: chunk ", digest.Hex(), " (", name, " stream, bytes ", index->ChunkStart(i),
            "..", index->entries()[i].end_offset, ") is not in the repository at ", repo.path(),
            ": upload it with PutChunks first; no snapshot was written")));
      }
    }
  }

  // The repository fills name/size/sha256; the counts come from the indexes.
  manifest.clear_indexes();
  for (const auto& [index, kind] : {std::pair{&*metadata, v1::STREAM_KIND_METADATA},
                                    std::pair{&*payload, v1::STREAM_KIND_PAYLOAD}}) {
    v1::IndexFileInfo* info = manifest.add_indexes();
    info->set_stream(kind);
    info->set_chunk_count(index->size());
    info->set_stream_length(index->stream_length());
  }
  absl::StatusOr<v1::Manifest> written = repo.CommitSnapshot(
      std::move(manifest), request.metadata_index().data(), request.payload_index().data());
  if (!written.ok()) {
    if (absl::IsInvalidArgument(written.status())) return written.status();
    return Commit(written.status());
  }
  v1::CommitSnapshotResponse response;
  *response.mutable_snapshot() = SnapshotInfoOf(*written);
  *response.mutable_manifest() = *std::move(written);
  return response;
}

absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(Repository& repo,
                                                        const v1::ListSnapshotsRequest& request) {
  absl::StatusOr<std::vector<v1::Manifest>> manifests = repo.ListSnapshots(request.group());
  if (!manifests.ok()) return manifests.status();
  std::vector<v1::SnapshotInfo> all;
  all.reserve(manifests->size());
  for (const v1::Manifest& m : *manifests) all.push_back(SnapshotInfoOf(m));
  if (request.page_size() == 0 && request.page_token().empty()) {
    if (absl::Status st = SelectSnapshotsByLabels(all, request); !st.ok()) return st;
    v1::ListSnapshotsResponse response;  // every one, oldest first (as before paging)
    for (v1::SnapshotInfo& s : all) *response.add_snapshots() = std::move(s);
    return response;
  }
  return PageOfSnapshots(std::move(all), request);
}

absl::StatusOr<v1::GetSnapshotResponse> GetSnapshot(Repository& repo,
                                                    const v1::GetSnapshotRequest& request) {
  if (request.id().empty()) {
    return absl::InvalidArgumentError("GetSnapshot: no id: pass a snapshot id or \"latest\"");
  }
  if (request.manifest_only()) {
    absl::StatusOr<std::string> id = repo.ResolveSnapshotId(request.id());
    if (!id.ok()) return id.status();
    absl::StatusOr<std::vector<v1::Manifest>> manifests = repo.ListSnapshots();
    if (!manifests.ok()) return manifests.status();
    for (const v1::Manifest& m : *manifests) {
      if (m.id() != *id) continue;
      absl::StatusOr<std::string> json = ManifestToJson(m);
      if (!json.ok()) return json.status();
      v1::GetSnapshotResponse response;
      *response.mutable_snapshot() = SnapshotInfoOf(m);
      response.set_manifest_json(*std::move(json));
      return response;
    }
    return absl::NotFoundError(
        absl::StrCat("snapshot ", *id, " disappeared (forgotten meanwhile)"));
  }
  absl::StatusOr<LoadedSnapshot> loaded = repo.LoadSnapshot(request.id());
  if (!loaded.ok()) return loaded.status();
  absl::StatusOr<std::string> json = ManifestToJson(loaded->manifest);
  if (!json.ok()) return json.status();
  v1::GetSnapshotResponse response;
  *response.mutable_snapshot() = SnapshotInfoOf(loaded->manifest);
  response.set_manifest_json(*std::move(json));
  response.mutable_metadata_index()->set_stream(v1::STREAM_KIND_METADATA);
  response.mutable_metadata_index()->set_data(std::move(loaded->metadata_index));
  response.mutable_payload_index()->set_stream(v1::STREAM_KIND_PAYLOAD);
  response.mutable_payload_index()->set_data(std::move(loaded->payload_index));
  return response;
}

absl::StatusOr<v1::GetSpaceResponse> GetSpace(Repository& repo) {
  v1::GetSpaceResponse response;
  if (repo.local_chunks() == nullptr) {  // object storage: no free-space limit to report
    absl::StatusOr<uint64_t> free_bytes = repo.FreeBytes();
    if (!free_bytes.ok()) return free_bytes.status();
    response.set_free_bytes(*free_bytes);
    response.set_path(repo.path());
    absl::StatusOr<double> ratio = repo.ObservedCompressionRatio();
    response.set_compression_ratio(ratio.ok() ? *ratio : 1.0);
    return response;
  }
  struct statvfs vfs;
  if (::statvfs(repo.path().c_str(), &vfs) != 0) {
    const int e = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(e),
        absl::StrCat("statvfs of the repository ", repo.path(), " failed: ", std::strerror(e),
                     "; check that the directory exists and is readable"));
  }
  response.set_free_bytes(static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
  response.set_total_bytes(static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize);
  response.set_path(repo.path());
  absl::StatusOr<double> ratio = repo.ObservedCompressionRatio();
  response.set_compression_ratio(ratio.ok() ? *ratio : 1.0);
  return response;
}

namespace {

// HoldWrite: one event naming the lock, then nothing until the caller ends
// the call; the lock file goes with the reactor.
class HoldWriteReactor final : public grpc::ServerWriteReactor<v1::HoldWriteEvent> {
 public:
  explicit HoldWriteReactor(std::unique_ptr<WriterLock> lock) : lock_(std::move(lock)) {
    const std::string& path = lock_->path();
    event_.set_lock(path.substr(path.find_last_of('/') + 1));
    event_.set_start_unix_ns(lock_->start_unix_ns());
    StartWrite(&event_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
    // Else: held until the caller cancels (OnCancel).
  }
  void OnCancel() override { FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "released")); }
  void OnDone() override { delete this; }

 private:
  void FinishOnce(grpc::Status status) {
    if (finished_.exchange(true)) return;
    Finish(std::move(status));
  }

  std::unique_ptr<WriterLock> lock_;
  v1::HoldWriteEvent event_;
  std::atomic<bool> finished_{false};
};

}  // namespace

UploaderService::UploaderService(Repository* repo, UploaderOptions options)
    : repo_(repo),
      pool_(options.threads),
      max_in_flight_(options.max_in_flight != 0
                         ? options.max_in_flight
                         : std::max<size_t>(8, 2 * static_cast<size_t>(pool_.threads()))),
      blob_check_(options.blob_check),
      max_clock_skew_(options.max_clock_skew),
      batcher_(repo->chunks(),
               {.max_pending_bytes = options.flush_bytes, .max_delay = options.flush_delay}) {
  UploaderServiceMetrics();  // every series exists (at 0) from the start
}

UploaderService::~UploaderService() = default;

grpc::ServerBidiReactor<v1::Blob, v1::PutChunkAck>* UploaderService::PutChunks(
    grpc::CallbackServerContext* context) {
  return new PutChunksReactor(repo_->chunks(), repo_->key(), &pool_, &batcher_, max_in_flight_,
                              blob_check_);
}

grpc::ServerUnaryReactor* UploaderService::HasChunks(grpc::CallbackServerContext* context,
                                                     const v1::HasChunksRequest* request,
                                                     v1::HasChunksResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::HasChunksResponse> r = services::HasChunks(*repo_->chunks(), *request);
    if (!r.ok()) {
      UploaderServiceMetrics().errors.Record(r.status(), v1::PHASE_UPLOAD);
      return r.status();
    }
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::Blob>* UploaderService::GetChunks(
    grpc::CallbackServerContext* context, const v1::GetChunksRequest* request) {
  std::vector<Digest> digests;
  digests.reserve(request->digests_size());
  for (int i = 0; i < request->digests_size(); ++i) {
    absl::StatusOr<Digest> digest = Digest::FromRaw(request->digests(i));
    if (!digest.ok()) {
      return new FailedWriteReactor<v1::Blob>(absl::InvalidArgumentError(
          absl::StrCat("GetChunks: digest #", i, " is ", request->digests(i).size(),
                       " bytes; expected a 32-byte SHA-256")));
    }
    digests.push_back(*digest);
  }
  return new GetChunksReactor(repo_->chunks(), repo_->key(), &pool_, std::move(digests),
                              max_in_flight_);
}

grpc::ServerUnaryReactor* UploaderService::CommitSnapshot(grpc::CallbackServerContext* context,
                                                          const v1::CommitSnapshotRequest* request,
                                                          v1::CommitSnapshotResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::CommitSnapshotResponse> r =
        services::CommitSnapshot(*repo_, *request, absl::Now(), max_clock_skew_);
    if (!r.ok()) {
      UploaderServiceMetrics().errors.Record(r.status(), v1::PHASE_COMMIT);
      return r.status();
    }
    UploaderServiceMetrics().snapshots_committed.Increment();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* UploaderService::ListSnapshots(grpc::CallbackServerContext* context,
                                                         const v1::ListSnapshotsRequest* request,
                                                         v1::ListSnapshotsResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::ListSnapshotsResponse> r = services::ListSnapshots(*repo_, *request);
    if (!r.ok()) return r.status();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* UploaderService::GetSnapshot(grpc::CallbackServerContext* context,
                                                       const v1::GetSnapshotRequest* request,
                                                       v1::GetSnapshotResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::GetSnapshotResponse> r = services::GetSnapshot(*repo_, *request);
    if (!r.ok()) return r.status();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* UploaderService::Forget(grpc::CallbackServerContext* context,
                                                  const v1::ForgetRequest* request,
                                                  v1::ForgetResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::ForgetResponse> r =
        ForgetSnapshots(*repo_, *request, absl::ToUnixNanos(absl::Now()));
    if (!r.ok()) return r.status();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* UploaderService::Gc(grpc::CallbackServerContext* context,
                                              const v1::GcRequest* request,
                                              v1::GcResponse* response) {
  // A long walk of the repository: on the pool, never on a reaction thread.
  return RunUnaryOnPool(context, &pool_, [this, request, response]() -> absl::Status {
    absl::StatusOr<v1::GcResponse> r = CollectGarbage(*repo_, *request);
    if (!r.ok()) return r.status();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::HoldWriteEvent>* UploaderService::HoldWrite(
    grpc::CallbackServerContext* context, const v1::HoldWriteRequest* request) {
  // A lock file is a small create + fsync: done here, not on the pool, so
  // that the lock exists before the first event says so.
  absl::StatusOr<std::unique_ptr<WriterLock>> lock = repo_->LockForWrite(
      request->description().empty() ? absl::StrCat("distributed backup, job ", request->job_id())
                                     : request->description().substr(0, 512));
  if (!lock.ok()) {
    absl::Status st = WithPhase(
        absl::FailedPreconditionError(absl::StrCat(
            "cannot register the job as a writer of the repository: ", lock.status().message())),
        v1::PHASE_SETUP);
    UploaderServiceMetrics().errors.Record(st, v1::PHASE_SETUP);
    return new FailedWriteReactor<v1::HoldWriteEvent>(st);
  }
  return new HoldWriteReactor(*std::move(lock));
}

grpc::ServerUnaryReactor* UploaderService::GetSpace(grpc::CallbackServerContext* context,
                                                    const v1::GetSpaceRequest* request,
                                                    v1::GetSpaceResponse* response) {
  return RunUnaryOnPool(context, &pool_, [this, response]() -> absl::Status {
    absl::StatusOr<v1::GetSpaceResponse> r = services::GetSpace(*repo_);
    if (!r.ok()) return r.status();
    *response = *std::move(r);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::GetChunkIdKeyResponse> GetChunkIdKey(const Repository& repo) {
  if (!repo.encrypted()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the repository ", repo.path(),
                     " is not encrypted: its chunk ids are SHA-256, there is no id key"));
  }
  const RepositoryKey* key = repo.key();
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the repository ", repo.path(), " is encrypted but this uploader holds no key"));
  }
  v1::GetChunkIdKeyResponse response;
  response.set_id_key(key->IdKey());
  response.set_key_fingerprint(key->fingerprint());
  return response;
}

grpc::ServerUnaryReactor* UploaderService::GetChunkIdKey(grpc::CallbackServerContext* context,
                                                         const v1::GetChunkIdKeyRequest* request,
                                                         v1::GetChunkIdKeyResponse* response) {
  absl::StatusOr<v1::GetChunkIdKeyResponse> r = services::GetChunkIdKey(*repo_);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!r.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(r.status()));
    return reactor;
  }
  *response = *std::move(r);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* UploaderService::GetConfig(grpc::CallbackServerContext* context,
                                                     const v1::GetConfigRequest* request,
                                                     v1::RepositoryConfig* response) {
  *response = repo_->config();  // in memory: no need for the pool
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace arca::services
