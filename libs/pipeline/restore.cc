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
#include "libs/pipeline/local_restore_ports.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/pipeline/restore_job.h"
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

}  // namespace

absl::Status ForEachEntry(Repository& repo, absl::string_view snapshot,
                          const std::function<absl::Status(const v1::Entry&)>& fn) {
  ASSIGN_OR_RETURN(OpenSnapshot snap, Open(repo, snapshot));
  RepositoryChunkSource source(repo.chunks(), repo.key());
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
    RepositoryChunkSource source(repo.chunks(), repo.key());
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
  LocalSnapshotSource snapshots(&repo);
  absl::StatusOr<TreeWriterOptions> writer_options =
      MakeTreeWriterOptions(options.overwrite, options.delete_extraneous, options.includes);
  if (!writer_options.ok()) {
    RestoreResult r;
    r.status = WithPhase(writer_options.status(), v1::PHASE_SETUP);
    r.exit_code = ExitCodeOf(r.status);
    return r;
  }
  LocalTreeTarget target(options.target, options.file_system, *std::move(writer_options));
  RestoreJobOptions job;
  job.includes = options.includes;
  job.file_workers = options.file_workers;
  job.progress = options.progress;
  job.cancel = cancel;
  return RunRestoreJob(std::string(snapshot), RestorePorts{&snapshots, &target}, job);
}

}  // namespace arca
