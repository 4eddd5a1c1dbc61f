#include "libs/pipeline/restore.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/pipeline/restore_selection.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

// A snapshot opened for reading: indexes decoded, stream readers ready.
struct OpenSnapshot {
  LoadedSnapshot loaded;
  ChunkIndex metadata_index;
  ChunkIndex payload_index;
};

absl::StatusOr<OpenSnapshot> Open(Repository& repo, absl::string_view snapshot) {
  OpenSnapshot out;
  ASSIGN_OR_RETURN(out.loaded, repo.LoadSnapshot(std::string(snapshot)));
  const std::string& id = out.loaded.manifest.id();
  ASSIGN_OR_RETURN(out.metadata_index,
                   ChunkIndex::Decode(AsBytes(out.loaded.metadata_index), v1::STREAM_KIND_METADATA,
                                      absl::StrCat(id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(out.payload_index,
                   ChunkIndex::Decode(AsBytes(out.loaded.payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(id, "/payload.aidx")));
  return out;
}

RestoreResult Fail(RestoreResult r, absl::Status st) {
  if (st.code() == absl::StatusCode::kCancelled) {
    r.exit_code = ExitCode::kCancelled;
  } else if (st.code() == absl::StatusCode::kDataLoss) {
    r.exit_code = ExitCode::kVerification;
  } else {
    r.exit_code = ExitCode::kRestore;
  }
  r.status = WithPhase(std::move(st), v1::PHASE_RESTORE);
  return r;
}

}  // namespace

absl::Status ForEachEntry(Repository& repo, absl::string_view snapshot,
                          const std::function<absl::Status(const v1::Entry&)>& fn) {
  ASSIGN_OR_RETURN(OpenSnapshot snap, Open(repo, snapshot));
  RepositoryChunkSource source(repo.chunks());
  StreamReader meta(&snap.metadata_index, &source);
  MetadataStreamReader reader(&meta);
  v1::Entry entry;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
    if (!more) return absl::OkStatus();
    RETURN_IF_ERROR(fn(entry));
  }
}

absl::StatusOr<std::string> ReadCommandOutput(Repository& repo, absl::string_view snapshot,
                                              absl::string_view name) {
  ASSIGN_OR_RETURN(OpenSnapshot snap, Open(repo, snapshot));
  for (const v1::CommandResult& c : snap.loaded.manifest.commands()) {
    if (c.name() != name) continue;
    RepositoryChunkSource source(repo.chunks());
    StreamReader payload(&snap.payload_index, &source);
    std::string out(c.payload().length(), '\0');
    uint64_t done = 0;
    while (done < out.size()) {
      ASSIGN_OR_RETURN(
          size_t n, payload.ReadAt(c.payload().offset() + done,
                                   std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()) + done,
                                                      out.size() - done)));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("output of command '", name, "' in snapshot ",
                                                snap.loaded.manifest.id(), " ends early"));
      }
      done += n;
    }
    return out;
  }
  return absl::NotFoundError(absl::StrCat("snapshot ", snap.loaded.manifest.id(),
                                          " has no command output '", name,
                                          "': see `arca snapshots --json` for its commands"));
}

RestoreResult RunRestore(Repository& repo, absl::string_view snapshot,
                         const RestoreOptions& options, const CancelToken* cancel) {
  RestoreResult result;
  Progress* const progress = options.progress;
  const ProgressRun progress_run(progress, v1::PHASE_RESTORE);
  // Validates the patterns before anything is read (exit 2).
  absl::StatusOr<RestoreSelection> selection = RestoreSelection::Create(options.includes, "");
  if (!selection.ok()) {
    result.exit_code = ExitCode::kUsage;
    result.status = selection.status();
    return result;
  }
  absl::StatusOr<OpenSnapshot> snap = Open(repo, snapshot);
  if (!snap.ok()) {
    if (snap.status().code() == absl::StatusCode::kNotFound) {
      result.exit_code = ExitCode::kUsage;
      result.status = snap.status();
      return result;
    }
    return Fail(result, snap.status());
  }
  result.snapshot_id = snap->loaded.manifest.id();
  if (progress && options.includes.empty()) {
    progress->SetBytesTotal(snap->loaded.manifest.stats().bytes_collected());
    progress->SetFilesTotal(snap->loaded.manifest.stats().files());
  }
  selection = RestoreSelection::Create(options.includes, result.snapshot_id);
  if (!selection.ok()) return Fail(result, selection.status());
  RepositoryChunkSource source(repo.chunks());
  StreamReader meta(&snap->metadata_index, &source);
  StreamReader payload(&snap->payload_index, &source, 8);
  MetadataStreamReader reader(&meta);
  absl::StatusOr<std::unique_ptr<TreeWriter>> writer =
      TreeWriter::Open(options.target, options.file_system);
  if (!writer.ok()) return Fail(result, writer.status());

  std::vector<uint8_t> buf(1u << 20);
  auto write_payload = [&](const v1::Entry& e) -> absl::Status {
    uint64_t off = e.payload().offset();
    uint64_t left = e.payload().length();
    while (left > 0) {
      if (cancel && cancel->cancelled()) return cancel->Check("restore");
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      ASSIGN_OR_RETURN(size_t n, payload.ReadAt(off, std::span<uint8_t>(buf.data(), want)));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("payload of '", e.path(),
                                                "' ends early at stream offset ", off,
                                                " in snapshot ", result.snapshot_id));
      }
      RETURN_IF_ERROR((*writer)->WriteData(std::span<const uint8_t>(buf.data(), n)));
      off += n;
      left -= n;
      result.bytes += n;
      if (progress) progress->AddBytes(n);
    }
    return absl::OkStatus();
  };

  v1::Entry entry;
  std::vector<v1::Entry> selected;
  absl::Status st = [&]() -> absl::Status {
    while (true) {
      if (cancel && cancel->cancelled()) return cancel->Check("restore");
      ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
      if (!more) break;
      selected.clear();
      RETURN_IF_ERROR(selection->Select(entry, &selected));
      for (const v1::Entry& e : selected) {
        RETURN_IF_ERROR((*writer)->BeginEntry(e));
        if (e.type() == v1::ENTRY_TYPE_REGULAR) RETURN_IF_ERROR(write_payload(e));
        RETURN_IF_ERROR((*writer)->FinishEntry());
        ++result.entries;
        if (progress) {
          progress->AddEntries();
          if (e.type() == v1::ENTRY_TYPE_REGULAR) progress->AddFiles();
        }
      }
    }
    return (*writer)->Finish();
  }();
  for (v1::Warning& w : (*writer)->TakeWarnings()) result.warnings.push_back(std::move(w));
  if (progress) progress->SetWarnings(result.warnings.size());
  if (!st.ok()) return Fail(result, st);
  return result;
}

}  // namespace arca
