#include "libs/pipeline/restore_job.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/base/worker_pool.h"
#include "libs/pipeline/parallel_file_write.h"
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
  if (absl::Status st = ports.target->Start(s.id); !st.ok()) {
    // A target refused as such (--delete into "/", an empty path): exit 2.
    if (absl::IsInvalidArgument(st)) return finish(Rephase(st, v1::PHASE_SETUP));
    return finish(RestorePhase(st));
  }

  std::vector<uint8_t> buf(1u << 20);
  // The message of a file whose data is damaged from payload offset `at`
  // on (`why`: the reader's DATA_LOSS).
  auto damaged = [](const v1::Entry& e, uint64_t at, const absl::Status& why) {
    // A decoded chunk that does not hash to its digest keeps
    // PHASE_VERIFICATION (a faulty or lying compressor: exit 8 either way).
    const v1::Phase phase =
        PhaseOf(why) == v1::PHASE_VERIFICATION ? v1::PHASE_VERIFICATION : v1::PHASE_RESTORE;
    const uint64_t intact = at - e.payload().offset();
    return WithPhase(
        absl::DataLossError(absl::StrCat(
            "not restored: its data is damaged from byte ", intact, " of ", e.payload().length(),
            " on (", why.message(), "); the file holds only the ", intact,
            " bytes before it and none of its metadata; back the file up again")),
        phase);
  };
  const int file_workers =
      options.file_workers > 0
          ? options.file_workers
          : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  ChunkSource* const concurrent_chunks = ports.snapshots->concurrent_payload_chunks();
  const bool parallel_files =
      file_workers > 1 && concurrent_chunks != nullptr && ports.target->SupportsParallelData();
  std::unique_ptr<WorkerPool> file_pool;  // made for the first large file
  // Writes the data of regular file `e`. A payload that cannot be read
  // (DATA_LOSS: a missing or corrupt chunk, a stream that ends early) is
  // damage, not a stop: *damage says why and the bytes before it are
  // written. Other errors (the target's, a cancellation) are returned.
  auto write_payload = [&](const v1::Entry& e, absl::Status* damage) -> absl::Status {
    uint64_t off = e.payload().offset();
    uint64_t left = e.payload().length();
    if (parallel_files && left >= options.parallel_file_bytes && left > 0) {
      if (file_pool == nullptr) file_pool = std::make_unique<WorkerPool>(file_workers);
      ParallelFileWrite w;
      w.payload_index = &s.payload_index;
      w.chunks = concurrent_chunks;
      w.target = ports.target;
      w.pool = file_pool.get();
      w.workers = file_workers;
      w.progress = progress;
      w.cancel = cancel;
      absl::Status why;
      ASSIGN_OR_RETURN(uint64_t intact, WriteFileInParallel(w, off, left, &why));
      RETURN_IF_ERROR(ports.target->EndParallelData(intact));
      if (!why.ok()) *damage = damaged(e, off + intact, why);
      return absl::OkStatus();
    }
    if (left > 0) ports.snapshots->ExpectPayloadOffset(off);
    while (left > 0) {
      if (cancel != nullptr && cancel->cancelled()) return cancel->Check("restore");
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      absl::StatusOr<size_t> n = payload.ReadAt(off, std::span<uint8_t>(buf.data(), want));
      if (!n.ok() && !absl::IsDataLoss(n.status())) return n.status();
      if (!n.ok() || *n == 0) {
        *damage = damaged(e, off,
                          !n.ok() ? n.status()
                                  : absl::DataLossError(absl::StrCat(
                                        "the payload stream ends early at offset ", off)));
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(ports.target->WriteData(std::span<const uint8_t>(buf.data(), *n)));
      off += *n;
      left -= *n;
      progress->AddBytes(*n);
    }
    return absl::OkStatus();
  };
  // Paths of the files given up, for hardlinks to them.
  absl::flat_hash_set<std::string> damaged_paths;
  v1::Phase damage_phase = v1::PHASE_RESTORE;
  auto record_damage = [&](const std::string& path, const absl::Status& why) {
    if (PhaseOf(why) == v1::PHASE_VERIFICATION) damage_phase = v1::PHASE_VERIFICATION;
    v1::Warning w;
    w.set_phase(v1::PHASE_RESTORE);
    w.set_path(path);
    w.set_message(std::string(why.message()));
    w.set_data_missing(true);
    result.damaged_files.push_back(std::move(w));
    damaged_paths.insert(path);
    progress->AddWarnings();
  };

  v1::Entry entry;
  std::vector<v1::Entry> selected;
  absl::Status st = [&]() -> absl::Status {
    while (true) {
      if (cancel != nullptr && cancel->cancelled()) return cancel->Check("restore");
      // Damage to the metadata stream stops the restore: nothing after it
      // can be trusted or even found.
      ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
      if (!more) break;
      selected.clear();
      RETURN_IF_ERROR(selection->Select(entry, &selected));
      for (const v1::Entry& e : selected) {
        RETURN_IF_ERROR(ports.target->BeginEntry(e));
        if (e.type() == v1::ENTRY_TYPE_REGULAR && ports.target->SkipsCurrentData()) {
          progress->AddBytes(e.payload().length());  // kept as it is: done
        } else if (e.type() == v1::ENTRY_TYPE_REGULAR) {
          absl::Status damage;
          RETURN_IF_ERROR(write_payload(e, &damage));
          if (!damage.ok()) {
            RETURN_IF_ERROR(ports.target->AbandonEntry(
                WithMessage(damage, absl::StrCat("'", e.path(), "' ", damage.message()))));
            record_damage(e.path(), damage);
            continue;
          }
        }
        RETURN_IF_ERROR(ports.target->FinishEntry());
        progress->AddEntries();
        if (e.type() == v1::ENTRY_TYPE_REGULAR) progress->AddFiles();
        if (e.type() == v1::ENTRY_TYPE_HARDLINK && damaged_paths.contains(e.hardlink_target())) {
          record_damage(e.path(), absl::DataLossError(absl::StrCat(
                                      "a hardlink to '", e.hardlink_target(),
                                      "', whose data is damaged: it shares that partial file")));
        }
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
  result.skipped = written->entries_skipped;
  result.deleted = written->entries_deleted;
  result.deleted_paths = std::move(written->deleted_paths);
  progress->SetWarnings(result.warnings.size() + result.damaged_files.size());
  if (!result.damaged_files.empty()) {
    const v1::Warning& first = result.damaged_files.front();
    return finish(WithPhase(
        absl::DataLossError(absl::StrCat(result.damaged_files.size(), " file(s) of snapshot ", s.id,
                                         " could not be restored (the rest was): the first, '",
                                         first.path(), "', ", first.message(),
                                         "; run `arca verify` to see every damaged chunk")),
        damage_phase));
  }
  return finish(absl::OkStatus());
}

}  // namespace arca
