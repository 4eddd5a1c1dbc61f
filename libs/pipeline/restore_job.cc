#include "libs/pipeline/restore_job.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/restore_selection.h"

namespace arca {
namespace {

// The same code and message with `phase` as the only phase.
absl::Status Rephase(const absl::Status& st, v1::Phase phase) {
  if (st.ok()) return st;
  return WithPhase(absl::Status(st.code(), st.message()), phase);
}

// A failure while the tree is read or written: PHASE_RESTORE (DATA_LOSS is
// exit 8 there, the rest 13), except a chunk whose decoded bytes do not hash
// to its digest (PHASE_VERIFICATION, exit 8) and a cancellation (130).
absl::Status RestorePhase(const absl::Status& st) {
  if (absl::IsDataLoss(st) && PhaseOf(st) == v1::PHASE_VERIFICATION) return st;
  return Rephase(st, v1::PHASE_RESTORE);
}

}  // namespace

RestoreResult RunRestoreJob(const std::string& snapshot, const RestorePorts& ports,
                            const RestoreJobOptions& options) {
  RestoreResult result;
  Progress own_progress;
  Progress* const progress = options.progress != nullptr ? options.progress : &own_progress;
  const ProgressRun progress_run(progress, v1::PHASE_RESTORE);
  const CancelToken* const cancel = options.cancel;
  auto finish = [&result](absl::Status st) {
    result.status = std::move(st);
    result.exit_code = ExitCodeOf(result.status);
    return std::move(result);
  };

  // Validates the patterns before anything is read (exit 2).
  absl::StatusOr<RestoreSelection> selection = RestoreSelection::Create(options.includes, "");
  if (!selection.ok()) return finish(Rephase(selection.status(), v1::PHASE_SETUP));
  absl::StatusOr<const RestoreSnapshot*> snap = ports.snapshots->Open(snapshot);
  if (!snap.ok()) {
    if (cancel != nullptr && cancel->cancelled()) return finish(cancel->Check("restore"));
    const absl::Status& st = snap.status();
    if (absl::IsNotFound(st) || absl::IsInvalidArgument(st)) {
      return finish(Rephase(st, v1::PHASE_SETUP));
    }
    return finish(RestorePhase(st));
  }
  const RestoreSnapshot& s = **snap;
  result.snapshot_id = s.id;
  if (options.includes.empty()) {
    progress->SetBytesTotal(s.stats.bytes_collected());
    progress->SetFilesTotal(s.stats.files());
  }
  selection = RestoreSelection::Create(options.includes, s.id);
  if (!selection.ok()) return finish(Rephase(selection.status(), v1::PHASE_SETUP));
  StreamReader meta(&s.metadata_index, ports.snapshots->metadata_chunks());
  StreamReader payload(&s.payload_index, ports.snapshots->payload_chunks(), 8);
  MetadataStreamReader reader(&meta);
  if (absl::Status st = ports.target->Start(s.id); !st.ok()) return finish(RestorePhase(st));

  std::vector<uint8_t> buf(1u << 20);
  auto write_payload = [&](const v1::Entry& e) -> absl::Status {
    uint64_t off = e.payload().offset();
    uint64_t left = e.payload().length();
    if (left > 0) ports.snapshots->ExpectPayloadOffset(off);
    while (left > 0) {
      if (cancel != nullptr && cancel->cancelled()) return cancel->Check("restore");
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      ASSIGN_OR_RETURN(size_t n, payload.ReadAt(off, std::span<uint8_t>(buf.data(), want)));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("payload of '", e.path(),
                                                "' ends early at stream offset ", off,
                                                " in snapshot ", s.id));
      }
      RETURN_IF_ERROR(ports.target->WriteData(std::span<const uint8_t>(buf.data(), n)));
      off += n;
      left -= n;
      progress->AddBytes(n);
    }
    return absl::OkStatus();
  };

  v1::Entry entry;
  std::vector<v1::Entry> selected;
  absl::Status st = [&]() -> absl::Status {
    while (true) {
      if (cancel != nullptr && cancel->cancelled()) return cancel->Check("restore");
      ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
      if (!more) break;
      selected.clear();
      RETURN_IF_ERROR(selection->Select(entry, &selected));
      for (const v1::Entry& e : selected) {
        RETURN_IF_ERROR(ports.target->BeginEntry(e));
        if (e.type() == v1::ENTRY_TYPE_REGULAR) RETURN_IF_ERROR(write_payload(e));
        RETURN_IF_ERROR(ports.target->FinishEntry());
        progress->AddEntries();
        if (e.type() == v1::ENTRY_TYPE_REGULAR) progress->AddFiles();
      }
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    if (absl::Status target = ports.target->Abort(st); !target.ok()) st = target;
    if (cancel != nullptr && cancel->cancelled()) return finish(cancel->Check("restore"));
    const ProgressSample p = progress->Read();
    result.entries = p.entries;
    result.bytes = p.bytes_done;
    return finish(RestorePhase(st));
  }
  absl::StatusOr<TreeTargetResult> written = ports.target->Finish();
  if (!written.ok()) return finish(RestorePhase(written.status()));
  result.entries = written->entries_written;
  result.bytes = written->bytes_written;
  result.warnings = std::move(written->warnings);
  progress->SetWarnings(result.warnings.size());
  return finish(absl::OkStatus());
}

}  // namespace arca
