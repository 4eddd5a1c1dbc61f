#include "libs/pipeline/restore.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

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
                   ChunkIndex::Decode(Bytes(out.loaded.metadata_index),
                                      v1::STREAM_KIND_METADATA,
                                      absl::StrCat(id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(out.payload_index,
                   ChunkIndex::Decode(Bytes(out.loaded.payload_index),
                                      v1::STREAM_KIND_PAYLOAD,
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

// True when directory `dir` is a proper ancestor of `path` ("" is the root).
bool IsAncestor(const std::string& dir, const std::string& path) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' &&
         path.compare(0, dir.size(), dir) == 0;
}

// True when path or one of its ancestors matches.
bool Included(const fs::PathMatcher& m, const v1::Entry& e) {
  const std::string& p = e.path();
  if (p.empty()) return true;
  size_t pos = 0;
  while (true) {
    size_t slash = p.find('/', pos);
    if (slash == std::string::npos) {
      return m.Matches(p, e.type() == v1::ENTRY_TYPE_DIRECTORY);
    }
    if (m.Matches(absl::string_view(p.data(), slash), true)) return true;
    pos = slash + 1;
  }
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

absl::StatusOr<std::string> ReadCommandOutput(Repository& repo,
                                              absl::string_view snapshot,
                                              absl::string_view name) {
  ASSIGN_OR_RETURN(OpenSnapshot snap, Open(repo, snapshot));
  for (const v1::CommandResult& c : snap.loaded.manifest.commands()) {
    if (c.name() != name) continue;
    RepositoryChunkSource source(repo.chunks());
    StreamReader payload(&snap.payload_index, &source);
    std::string out(c.payload().length(), '\0');
    uint64_t done = 0;
    while (done < out.size()) {
      ASSIGN_OR_RETURN(size_t n, payload.ReadAt(c.payload().offset() + done,
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
  absl::StatusOr<fs::PathMatcher> includes = fs::PathMatcher::Create(options.includes);
  if (!includes.ok()) {
    result.exit_code = ExitCode::kUsage;
    result.status = includes.status();
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
  RepositoryChunkSource source(repo.chunks());
  StreamReader meta(&snap->metadata_index, &source);
  StreamReader payload(&snap->payload_index, &source, 8);
  MetadataStreamReader reader(&meta);
  absl::StatusOr<std::unique_ptr<TreeWriter>> writer = TreeWriter::Open(options.target);
  if (!writer.ok()) return Fail(result, writer.status());

  const bool filtered = !includes->empty();
  // With --include, a hardlink's first name may be filtered out: remember
  // multiply-linked files so a later name can be written as the file.
  absl::flat_hash_map<std::string, v1::Entry> linked_files;
  absl::flat_hash_map<std::string, std::string> restored_as;  // first name → restored path
  struct PendingDir {
    v1::Entry entry;
    bool written;
  };
  std::vector<PendingDir> dir_stack;  // directories on the path to the current entry
  std::vector<uint8_t> buf(1u << 20);

  auto write_payload = [&](const v1::Entry& e) -> absl::Status {
    uint64_t off = e.payload().offset();
    uint64_t left = e.payload().length();
    while (left > 0) {
      if (cancel && cancel->cancelled()) return cancel->Check("restore");
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      ASSIGN_OR_RETURN(size_t n, payload.ReadAt(off, std::span<uint8_t>(buf.data(), want)));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat(
            "payload of '", e.path(), "' ends early at stream offset ", off,
            " in snapshot ", result.snapshot_id));
      }
      RETURN_IF_ERROR((*writer)->WriteData(std::span<const uint8_t>(buf.data(), n)));
      off += n;
      left -= n;
      result.bytes += n;
    }
    return absl::OkStatus();
  };

  v1::Entry entry;
  absl::Status st = [&]() -> absl::Status {
    while (true) {
      if (cancel && cancel->cancelled()) return cancel->Check("restore");
      ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
      if (!more) break;
      if (filtered && entry.type() == v1::ENTRY_TYPE_REGULAR && entry.nlink() > 1) {
        linked_files[entry.path()] = entry;
      }
      if (filtered && entry.type() == v1::ENTRY_TYPE_DIRECTORY) {
        // Keep the chain of directories above the current entry, so the
        // ancestors of an included entry get their stored metadata.
        while (!dir_stack.empty() && !IsAncestor(dir_stack.back().entry.path(), entry.path())) {
          dir_stack.pop_back();
        }
      }
      if (filtered && !Included(*includes, entry)) {
        if (entry.type() == v1::ENTRY_TYPE_DIRECTORY) dir_stack.push_back({entry, false});
        continue;
      }
      if (filtered) {
        for (PendingDir& d : dir_stack) {
          if (d.written || !IsAncestor(d.entry.path(), entry.path())) continue;
          RETURN_IF_ERROR((*writer)->BeginEntry(d.entry));
          RETURN_IF_ERROR((*writer)->FinishEntry());
          d.written = true;
          ++result.entries;
        }
        if (entry.type() == v1::ENTRY_TYPE_DIRECTORY) dir_stack.push_back({entry, true});
      }
      if (entry.type() == v1::ENTRY_TYPE_HARDLINK) {
        auto done = restored_as.find(entry.hardlink_target());
        if (done == restored_as.end() && filtered) {
          // The first name was not restored: write this name as the file.
          auto it = linked_files.find(entry.hardlink_target());
          if (it == linked_files.end()) {
            return absl::DataLossError(absl::StrCat(
                "hardlink '", entry.path(), "' points to '", entry.hardlink_target(),
                "', which is not an earlier file of snapshot ", result.snapshot_id));
          }
          v1::Entry file = it->second;
          file.set_path(entry.path());
          RETURN_IF_ERROR((*writer)->BeginEntry(file));
          RETURN_IF_ERROR(write_payload(file));
          RETURN_IF_ERROR((*writer)->FinishEntry());
          restored_as[entry.hardlink_target()] = entry.path();
          ++result.entries;
          continue;
        }
        if (done != restored_as.end()) entry.set_hardlink_target(done->second);
      }
      RETURN_IF_ERROR((*writer)->BeginEntry(entry));
      if (entry.type() == v1::ENTRY_TYPE_REGULAR) {
        RETURN_IF_ERROR(write_payload(entry));
        if (entry.nlink() > 1) restored_as[entry.path()] = entry.path();
      }
      RETURN_IF_ERROR((*writer)->FinishEntry());
      ++result.entries;
    }
    return (*writer)->Finish();
  }();
  for (v1::Warning& w : (*writer)->TakeWarnings()) result.warnings.push_back(std::move(w));
  if (!st.ok()) return Fail(result, st);
  return result;
}

}  // namespace arca
