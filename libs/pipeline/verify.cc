#include "libs/pipeline/verify.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/bytes.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/blob/sealed_blob.h"
#include "libs/pipeline/hardlink_check.h"
#include "libs/pipeline/repository_chunk_source.h"

namespace arca {
namespace {

struct SnapshotIndexes {
  std::string id;
  ChunkIndex metadata;
  ChunkIndex payload;
};

}  // namespace

VerifyResult RunVerify(Repository& repo, absl::string_view snapshot, const CancelToken* cancel,
                       int workers, Progress* progress) {
  VerifyResult result;
  const ProgressRun progress_run(progress, v1::PHASE_VERIFICATION);
  auto problem = [&](std::string msg) {
    if (result.status.ok()) {
      result.status = WithPhase(absl::DataLossError(msg), v1::PHASE_VERIFICATION);
    }
    result.problems.push_back(std::move(msg));
    if (progress) progress->AddWarnings();
  };

  std::vector<std::string> ids;
  if (snapshot.empty()) {
    absl::StatusOr<std::vector<v1::Manifest>> all = repo.ListSnapshots("");
    if (!all.ok()) {
      problem(std::string(all.status().message()));
    } else {
      for (const v1::Manifest& m : *all) ids.push_back(m.id());
    }
  } else {
    absl::StatusOr<std::string> id = repo.ResolveSnapshotId(std::string(snapshot));
    if (!id.ok()) {
      result.exit_code = ExitCode::kUsage;
      result.status = id.status();
      return result;
    }
    ids.push_back(*id);
  }

  // 1. Manifests and indexes.
  std::vector<SnapshotIndexes> snaps;
  for (const std::string& id : ids) {
    absl::StatusOr<LoadedSnapshot> loaded = repo.LoadSnapshot(id);
    if (!loaded.ok()) {
      problem(absl::StrCat("snapshot ", id, ": ", loaded.status().message()));
      continue;
    }
    SnapshotIndexes s;
    s.id = id;
    absl::StatusOr<ChunkIndex> mi =
        ChunkIndex::Decode(AsBytes(loaded->metadata_index), v1::STREAM_KIND_METADATA,
                           absl::StrCat(id, "/metadata.aidx"));
    absl::StatusOr<ChunkIndex> pi = ChunkIndex::Decode(
        AsBytes(loaded->payload_index), v1::STREAM_KIND_PAYLOAD, absl::StrCat(id, "/payload.aidx"));
    if (!mi.ok() || !pi.ok()) {
      problem(
          absl::StrCat("snapshot ", id, ": ", (!mi.ok() ? mi.status() : pi.status()).message()));
      continue;
    }
    for (const v1::IndexFileInfo& info : loaded->manifest.indexes()) {
      const ChunkIndex& idx = info.stream() == v1::STREAM_KIND_METADATA ? *mi : *pi;
      if (info.chunk_count() != idx.size() || info.stream_length() != idx.stream_length()) {
        problem(absl::StrCat("snapshot ", id, ": index ", info.name(), " has ", idx.size(),
                             " chunks / ", idx.stream_length(), " bytes but the manifest says ",
                             info.chunk_count(), " / ", info.stream_length()));
      }
    }
    s.metadata = std::move(*mi);
    s.payload = std::move(*pi);
    snaps.push_back(std::move(s));
  }
  result.snapshots = snaps.size();

  // 2. Every referenced chunk, once, in parallel.
  absl::flat_hash_map<Digest, uint64_t> lengths;
  for (const SnapshotIndexes& s : snaps) {
    for (const ChunkIndex* idx : {&s.metadata, &s.payload}) {
      for (size_t i = 0; i < idx->size(); ++i) {
        lengths.emplace(idx->entries()[i].digest, idx->ChunkLength(i));
      }
    }
  }
  std::vector<std::pair<Digest, uint64_t>> todo(lengths.begin(), lengths.end());
  std::sort(todo.begin(), todo.end());  // digest order ≈ directory order on disk
  if (progress) {
    uint64_t total = 0;
    for (const auto& [digest, length] : todo) total += length;
    progress->SetChunksTotal(todo.size());
    progress->SetBytesTotal(total);
  }
  RepositoryChunkSource source(repo.chunks(), repo.key());
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  std::map<Digest, std::string> bad;  // digest → what is wrong
  std::atomic<uint64_t> bytes{0};
  int n =
      workers > 0 ? workers : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      while (true) {
        if (cancel && cancel->cancelled()) return;
        size_t i = next.fetch_add(1);
        if (i >= todo.size()) return;
        absl::StatusOr<std::shared_ptr<const std::string>> chunk =
            source.GetChunk(todo[i].first, todo[i].second);
        if (!chunk.ok()) {
          absl::MutexLock l(&mu);
          bad[todo[i].first] = std::string(chunk.status().message());
        } else {
          bytes += (*chunk)->size();
          if (progress) progress->AddBytes((*chunk)->size());
        }
        if (progress) progress->AddChunks();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (cancel && cancel->cancelled()) {
    result.exit_code = ExitCode::kCancelled;
    result.status = cancel->Check("verify");
    return result;
  }
  result.chunks = todo.size();
  result.bytes = bytes.load();

  // 3. Each metadata stream: parse it, check payload references, and name
  //    the files whose data lies in a bad chunk.
  for (const SnapshotIndexes& s : snaps) {
    std::vector<std::pair<uint64_t, uint64_t>> bad_ranges;  // payload [start, end)
    std::vector<std::string> bad_digests;
    for (size_t i = 0; i < s.payload.size(); ++i) {
      auto it = bad.find(s.payload.entries()[i].digest);
      if (it != bad.end()) {
        bad_ranges.push_back({s.payload.ChunkStart(i), s.payload.entries()[i].end_offset});
        bad_digests.push_back(it->first.Hex());
        problem(absl::StrCat("snapshot ", s.id, ": payload chunk ", it->first.Hex(),
                             " (stream bytes ", bad_ranges.back().first, "-",
                             bad_ranges.back().second, "): ", it->second));
      }
    }
    bool meta_bad = false;
    for (size_t i = 0; i < s.metadata.size(); ++i) {
      auto it = bad.find(s.metadata.entries()[i].digest);
      if (it != bad.end()) {
        meta_bad = true;
        problem(absl::StrCat("snapshot ", s.id, ": metadata chunk ", it->first.Hex(), ": ",
                             it->second));
      }
    }
    if (meta_bad) continue;  // the stream cannot be parsed past it
    StreamReader meta(&s.metadata, &source);
    MetadataStreamReader reader(&meta);
    HardlinkCheck hardlinks;
    v1::Entry e;
    while (true) {
      absl::StatusOr<bool> more = reader.Next(&e);
      if (!more.ok()) {
        problem(absl::StrCat("snapshot ", s.id, ": ", more.status().message()));
        break;
      }
      if (!*more) break;
      ++result.entries;
      if (progress) progress->AddEntries();
      if (std::optional<std::string> broken = hardlinks.Add(e)) {
        problem(absl::StrCat("snapshot ", s.id, ": ", *broken));
      }
      if (e.type() != v1::ENTRY_TYPE_REGULAR || e.payload().length() == 0) continue;
      uint64_t start = e.payload().offset();
      uint64_t end = start + e.payload().length();
      if (end < start || end > s.payload.stream_length()) {
        problem(absl::StrCat("snapshot ", s.id, ": file '", e.path(), "' refers to payload bytes ",
                             start, "-", end, " beyond the payload stream (",
                             s.payload.stream_length(), " bytes)"));
        continue;
      }
      for (size_t k = 0; k < bad_ranges.size(); ++k) {
        if (start < bad_ranges[k].second && bad_ranges[k].first < end) {
          problem(absl::StrCat("snapshot ", s.id, ": file '", e.path(),
                               "' is damaged: its data is in bad chunk ", bad_digests[k]));
          std::vector<std::string>& files = result.damaged_files[s.id];
          if (files.empty() || files.back() != e.path()) files.push_back(e.path());
        }
      }
    }
  }
  absl::StatusOr<std::vector<std::string>> moved = repo.chunks()->ListMovedAside();
  if (!moved.ok()) {
    problem(std::string(moved.status().message()));
  } else {
    for (std::string& path : *moved) result.bad_chunk_files.push_back(std::move(path));
  }
  if (!result.problems.empty()) result.exit_code = ExitCode::kVerification;
  return result;
}

VerifyResult RunVerifyWithoutKey(Repository& repo, const CancelToken* cancel, Progress* progress) {
  VerifyResult result;
  if (progress) progress->SetPhase(v1::PHASE_VERIFICATION);
  auto fail = [&](const absl::Status& st) {
    result.status = st;
    result.exit_code = ExitCodeOf(st);
    if (progress) progress->MarkDone();
    return result;
  };
  absl::StatusOr<uint64_t> files = repo.CheckSnapshotFrames(&result.problems);
  if (!files.ok()) return fail(files.status());
  result.snapshots = *files;
  std::vector<std::pair<Digest, uint64_t>> chunks;
  absl::Status listed = repo.chunks()->ForEach([&](const Digest& d, uint64_t size) {
    chunks.emplace_back(d, size);
    return absl::OkStatus();
  });
  if (!listed.ok()) return fail(listed);
  std::sort(chunks.begin(), chunks.end());
  if (progress) {
    uint64_t total = 0;
    for (const auto& c : chunks) total += c.second;
    progress->SetChunksTotal(chunks.size());
    progress->SetBytesTotal(total);
  }
  for (const auto& [digest, size] : chunks) {
    if (cancel && cancel->cancelled()) {
      return fail(absl::CancelledError("verify cancelled"));
    }
    absl::StatusOr<std::string> blob = repo.chunks()->Get(digest);
    if (absl::IsNotFound(blob.status())) continue;  // removed by gc meanwhile
    if (!blob.ok()) {
      result.problems.push_back(std::string(blob.status().message()));
    } else {
      // Every chunk of an encrypted repository must be sealed.
      absl::Status st = CheckSealedChunkFrame(AsBytes(*blob), digest);
      if (!st.ok()) result.problems.push_back(std::string(st.message()));
      result.bytes += blob->size();
      if (progress) progress->AddBytes(blob->size());
    }
    ++result.chunks;
    if (progress) progress->AddChunks();
  }
  if (!result.problems.empty()) {
    result.status = absl::DataLossError(absl::StrCat(result.problems.size(),
                                                     " problem(s) found without the key; first: ",
                                                     result.problems.front()));
    result.exit_code = ExitCode::kVerification;
  }
  if (progress) progress->MarkDone();
  return result;
}

}  // namespace arca
