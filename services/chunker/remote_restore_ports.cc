#include "services/chunker/remote_restore_ports.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/status_convert.h"

namespace arca::services {
namespace {

constexpr size_t kBatchBytes = 1u << 20;

RemoteChunkSourceOptions SourceOptions(const RemoteCallTimeouts& t) {
  RemoteChunkSourceOptions o;
  o.call_timeout = t.call;
  return o;
}

}  // namespace

// --- RemoteSnapshotSource -------------------------------------------------------------------

RemoteSnapshotSource::RemoteSnapshotSource(ReplicaSet* uploaders, ReplicaSet* compressors,
                                           CallRegistry* calls, RemoteCallTimeouts timeouts,
                                           size_t read_ahead)
    : uploaders_(uploaders),
      calls_(calls),
      timeouts_(timeouts),
      read_ahead_(std::max<size_t>(read_ahead, 1)),
      source_(uploaders, compressors->size() > 0 ? compressors : nullptr, calls,
              SourceOptions(timeouts)) {}

absl::StatusOr<const RestoreSnapshot*> RemoteSnapshotSource::Open(const std::string& id_or_latest) {
  // An encrypted repository: every chunk read back is checked against its
  // keyed id, with the id key fetched once for the job.
  v1::RepositoryConfig config;
  RETURN_IF_ERROR(
      WithPhase(UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline, "GetConfig",
                             &v1::Uploader::Stub::GetConfig, v1::GetConfigRequest(), &config),
                v1::PHASE_UPLOAD));
  if (!config.encryption().empty() && !key_.has_value()) {
    ASSIGN_OR_RETURN(RepositoryKey key, FetchChunkIdKey(uploaders_, calls_, timeouts_));
    key_ = std::move(key);
    source_.SetKey(&*key_);
  }
  v1::GetSnapshotRequest req;
  req.set_id(id_or_latest);
  v1::GetSnapshotResponse snap;
  RETURN_IF_ERROR(UploaderCall(uploaders_, calls_, timeouts_.call, timeouts_.deadline,
                               "GetSnapshot", &v1::Uploader::Stub::GetSnapshot, req, &snap));
  RestoreSnapshot s;
  s.id = snap.snapshot().id();
  s.stats = snap.snapshot().stats();
  ASSIGN_OR_RETURN(s.metadata_index, ChunkIndex::Decode(AsBytes(snap.metadata_index().data()),
                                                        v1::STREAM_KIND_METADATA,
                                                        absl::StrCat(s.id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(s.payload_index,
                   ChunkIndex::Decode(AsBytes(snap.payload_index().data()), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(s.id, "/payload.aidx")));
  snapshot_ = std::move(s);
  meta_ahead_ = std::make_unique<ReadAheadChunkSource>(&snapshot_->metadata_index, &source_, 2, 1);
  payload_ahead_ = std::make_unique<ReadAheadChunkSource>(
      &snapshot_->payload_index, &source_, read_ahead_, std::max<size_t>(read_ahead_ / 2, 1));
  return &*snapshot_;
}

// --- RemoteTreeTarget -------------------------------------------------------------------------

RemoteTreeTarget::~RemoteTreeTarget() {
  if (stream_ != nullptr && !closed_)
    Abort(absl::CancelledError("the restore stopped")).IgnoreError();
}

absl::Status RemoteTreeTarget::Start(const std::string& /*snapshot_id*/) {
  ctx_ = std::make_unique<grpc::ClientContext>();
  ctx_->set_deadline(DeadlineIn(timeouts_.job, timeouts_.deadline));
  registered_ = std::make_unique<CallRegistry::Scoped>(calls_, ctx_.get());
  stream_ = v1::Collector::NewStub(collector_->channel(0))->WriteTree(ctx_.get(), &response_);
  v1::WriteTreeRequest first;
  v1::RestoreTarget* t = first.mutable_target();
  t->set_job_id(plan_.job_id());
  t->set_target(plan_.target());
  *t->mutable_includes() = plan_.includes();
  t->set_numeric_owner(true);
  t->set_overwrite(plan_.overwrite());
  t->set_delete_extraneous(plan_.delete_extraneous());
  return Send(first);
}

absl::Status RemoteTreeTarget::Send(const v1::WriteTreeRequest& message) {
  if (!broken_ && stream_->Write(message)) return absl::OkStatus();
  broken_ = true;
  return Close();  // the collector's status says why
}

absl::Status RemoteTreeTarget::Flush() {
  if (batch_.batch().items_size() == 0) return absl::OkStatus();
  absl::Status st = Send(batch_);
  batch_.Clear();
  batch_bytes_ = 0;
  return st;
}

absl::Status RemoteTreeTarget::BeginEntry(const v1::Entry& entry) {
  batch_bytes_ += entry.ByteSizeLong();
  *batch_.mutable_batch()->add_items()->mutable_entry() = entry;
  return absl::OkStatus();
}

absl::Status RemoteTreeTarget::WriteData(std::span<const uint8_t> data) {
  batch_.mutable_batch()->add_items()->mutable_data()->set_data(
      reinterpret_cast<const char*>(data.data()), data.size());
  batch_bytes_ += data.size();
  if (restored_bytes_ != nullptr) restored_bytes_->Increment(static_cast<double>(data.size()));
  if (batch_bytes_ >= kBatchBytes) return Flush();
  return absl::OkStatus();
}

absl::Status RemoteTreeTarget::FinishEntry() {
  if (batch_bytes_ >= kBatchBytes) return Flush();
  return absl::OkStatus();
}

absl::Status RemoteTreeTarget::AbandonEntry(const absl::Status& why) {
  v1::WriteTreeRequest* item = batch_.mutable_batch()->add_items();
  item->set_abandon(std::string(why.message()));
  batch_bytes_ += item->ByteSizeLong();
  if (batch_bytes_ >= kBatchBytes) return Flush();
  return absl::OkStatus();
}

absl::Status RemoteTreeTarget::Close() {
  if (closed_)
    return absl::UnavailableError(
        absl::StrCat("collector ", plan_.collector(), ": the WriteTree stream is closed"));
  closed_ = true;
  absl::Status st = rpc::FromGrpcStatus(stream_->Finish());
  registered_.reset();
  if (st.ok()) {
    if (broken_) {
      return absl::UnavailableError(
          absl::StrCat("collector ", plan_.collector(), " ended WriteTree early"));
    }
    return st;
  }
  return WithPhase(
      absl::Status(st.code(), absl::StrCat("collector ", plan_.collector(), ": ", st.message())),
      v1::PHASE_RESTORE);
}

absl::StatusOr<TreeTargetResult> RemoteTreeTarget::Finish() {
  RETURN_IF_ERROR(Flush());
  if (!stream_->WritesDone()) broken_ = true;
  RETURN_IF_ERROR(Close());
  TreeTargetResult r;
  r.entries_written = response_.entries_written();
  r.bytes_written = response_.bytes_written();
  r.warnings.assign(response_.warnings().begin(), response_.warnings().end());
  r.entries_skipped = response_.entries_skipped();
  r.entries_deleted = response_.entries_deleted();
  r.deleted_paths.assign(response_.deleted_paths().begin(), response_.deleted_paths().end());
  return r;
}

absl::Status RemoteTreeTarget::Abort(const absl::Status& /*why*/) {
  if (stream_ == nullptr || closed_) return absl::OkStatus();
  if (!broken_) ctx_->TryCancel();
  closed_ = true;
  (void)stream_->Finish();
  registered_.reset();
  return absl::OkStatus();
}

}  // namespace arca::services
