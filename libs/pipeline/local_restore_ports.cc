#include "libs/pipeline/local_restore_ports.h"

#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"

namespace arca {

absl::StatusOr<const RestoreSnapshot*> LocalSnapshotSource::Open(const std::string& id_or_latest) {
  ASSIGN_OR_RETURN(LoadedSnapshot loaded, repo_->LoadSnapshot(id_or_latest));
  RestoreSnapshot s;
  s.id = loaded.manifest.id();
  s.stats = loaded.manifest.stats();
  ASSIGN_OR_RETURN(s.metadata_index,
                   ChunkIndex::Decode(AsBytes(loaded.metadata_index), v1::STREAM_KIND_METADATA,
                                      absl::StrCat(s.id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(s.payload_index,
                   ChunkIndex::Decode(AsBytes(loaded.payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(s.id, "/payload.aidx")));
  meta_ahead_.reset();
  payload_ahead_.reset();
  snapshot_ = std::move(s);
  if (repo_->local_chunks() == nullptr) {
    meta_ahead_ =
        std::make_unique<ReadAheadChunkSource>(&snapshot_->metadata_index, &chunks_, 4, 2);
    payload_ahead_ =
        std::make_unique<ReadAheadChunkSource>(&snapshot_->payload_index, &chunks_, 16, 8);
  }
  return &*snapshot_;
}

absl::Status LocalTreeTarget::Start(const std::string& /*snapshot_id*/) {
  ASSIGN_OR_RETURN(writer_, TreeWriter::Open(target_, fs_, options_));
  return absl::OkStatus();
}

absl::StatusOr<TreeTargetResult> LocalTreeTarget::Finish() {
  absl::Status st = writer_->Finish();
  TreeTargetResult r;
  r.entries_written = writer_->entries_written();
  r.bytes_written = writer_->bytes_written();
  r.warnings = writer_->TakeWarnings();
  r.entries_skipped = writer_->entries_skipped();
  r.entries_deleted = writer_->entries_deleted();
  r.deleted_paths = writer_->deleted_paths();
  RETURN_IF_ERROR(st);
  return r;
}

absl::Status LocalTreeTarget::Abort(const absl::Status& /*why*/) {
  writer_.reset();  // closes every descriptor; what was written stays
  return absl::OkStatus();
}

}  // namespace arca
