#include "services/collector/write_tree_session.h"

#include "absl/strings/str_cat.h"
#include "libs/archive/metadata_stream.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/path_roots.h"

namespace arca::services {
namespace {

absl::Status Restore(absl::Status st) { return WithPhase(std::move(st), v1::PHASE_RESTORE); }

}  // namespace

absl::StatusOr<std::unique_ptr<WriteTreeSession>> WriteTreeSession::Open(
    const v1::RestoreTarget& target, const std::vector<std::string>& restore_roots) {
  if (target.target().empty() || target.target()[0] != '/') {
    return Restore(absl::InvalidArgumentError(
        absl::StrCat("restore target '", target.target(),
                     "' must be an absolute path on the collector's node")));
  }
  // The canonical target is what is opened: what was checked is written.
  absl::StatusOr<std::string> canonical = fs::ResolveWithinRoots(
      target.target(), restore_roots, "restore target", "collector", "--restore-root");
  if (!canonical.ok()) return Restore(canonical.status());
  absl::StatusOr<OverwritePolicy> overwrite = OverwritePolicyFromProto(target.overwrite());
  if (!overwrite.ok()) return Restore(overwrite.status());
  std::vector<std::string> includes(target.includes().begin(), target.includes().end());
  absl::StatusOr<TreeWriterOptions> options =
      MakeTreeWriterOptions(*overwrite, target.delete_extraneous(), includes);
  if (!options.ok()) return Restore(options.status());
  absl::StatusOr<std::unique_ptr<TreeWriter>> writer =
      TreeWriter::Open(*canonical, nullptr, *std::move(options));
  if (!writer.ok()) return Restore(writer.status());
  return std::unique_ptr<WriteTreeSession>(new WriteTreeSession(*std::move(writer)));
}

absl::Status WriteTreeSession::Apply(const v1::WriteTreeRequest& item) {
  if (item.item_case() != v1::WriteTreeRequest::kBatch) return ApplyOne(item);
  for (const v1::WriteTreeRequest& i : item.batch().items()) {
    if (i.item_case() == v1::WriteTreeRequest::kBatch) {
      return Restore(absl::InvalidArgumentError("WriteTree: a batch inside a batch"));
    }
    RETURN_IF_ERROR(ApplyOne(i));
  }
  return absl::OkStatus();
}

absl::Status WriteTreeSession::ApplyOne(const v1::WriteTreeRequest& item) {
  switch (item.item_case()) {
    case v1::WriteTreeRequest::kEntry: {
      if (in_entry_) {
        in_entry_ = in_file_ = false;
        RETURN_IF_ERROR(Restore(writer_->FinishEntry()));
      }
      const v1::Entry& e = item.entry();
      if (absl::Status st = ValidateEntry(e); !st.ok()) {
        return Restore(
            absl::InvalidArgumentError(absl::StrCat("WriteTree: refusing entry: ", st.message())));
      }
      RETURN_IF_ERROR(Restore(writer_->BeginEntry(e)));
      in_entry_ = true;
      in_file_ = e.type() == v1::ENTRY_TYPE_REGULAR;
      return absl::OkStatus();
    }
    case v1::WriteTreeRequest::kData: {
      if (!in_file_) {
        return Restore(absl::InvalidArgumentError(
            "WriteTree: file data without a regular file entry before it"));
      }
      const std::string& d = item.data().data();
      return Restore(writer_->WriteData(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(d.data()), d.size())));
    }
    case v1::WriteTreeRequest::kAbandon: {
      if (!in_file_) {
        return Restore(absl::InvalidArgumentError(
            "WriteTree: abandon without a regular file entry before it"));
      }
      in_entry_ = in_file_ = false;
      RETURN_IF_ERROR(Restore(writer_->AbandonEntry()));
      ++abandoned_;
      return absl::OkStatus();
    }
    case v1::WriteTreeRequest::kTarget:
      return Restore(absl::InvalidArgumentError(
          "WriteTree: a second restore target; only the first message carries one"));
    case v1::WriteTreeRequest::kBatch:
      return Restore(absl::InvalidArgumentError("WriteTree: a batch inside a batch"));
    case v1::WriteTreeRequest::ITEM_NOT_SET:
      break;
  }
  return Restore(absl::InvalidArgumentError("WriteTree: an item with nothing set"));
}

absl::Status WriteTreeSession::Finish() {
  if (in_entry_) {
    in_entry_ = in_file_ = false;
    RETURN_IF_ERROR(Restore(writer_->FinishEntry()));
  }
  return Restore(writer_->Finish());
}

v1::WriteTreeResponse WriteTreeSession::Response() {
  for (v1::Warning& w : writer_->TakeWarnings()) warnings_.push_back(std::move(w));
  v1::WriteTreeResponse r;
  r.set_entries_written(writer_->entries_written());
  r.set_bytes_written(writer_->bytes_written());
  r.set_entries_abandoned(abandoned_);
  r.set_entries_skipped(writer_->entries_skipped());
  r.set_entries_deleted(writer_->entries_deleted());
  for (const std::string& p : writer_->deleted_paths()) r.add_deleted_paths(p);
  for (const v1::Warning& w : warnings_) *r.add_warnings() = w;
  return r;
}

}  // namespace arca::services
