#include "libs/pipeline/local_backup_ports.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/collection.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/incremental_estimate.h"
#include "libs/pipeline/parent_snapshot.h"
#include "libs/pipeline/source_estimate.h"

namespace arca {
namespace {

absl::Status RepositoryUnusable(const absl::Status& st) {
  return WithPhase(absl::FailedPreconditionError(st.message()), v1::PHASE_SETUP);
}

SnapshotSummary Summary(const v1::Manifest& m) {
  return SnapshotSummary{m.id(), m.stats().bytes_collected(), m.time_unix_ns()};
}

}  // namespace

// --- LocalSnapshotRepository -------------------------------------------------------

absl::StatusOr<v1::RepositoryConfig> LocalSnapshotRepository::Config() {
  return ChunkingConfig(repo_->config(), repo_->key());
}

absl::StatusOr<SnapshotSummary> LocalSnapshotRepository::GetSnapshot(const std::string& id) {
  ASSIGN_OR_RETURN(LoadedSnapshot loaded, repo_->LoadSnapshot(id));
  return Summary(loaded.manifest);
}

absl::StatusOr<std::optional<SnapshotSummary>> LocalSnapshotRepository::LatestSnapshot(
    const std::string& group) {
  ASSIGN_OR_RETURN(std::optional<v1::Manifest> newest, repo_->NewestSnapshot(group));
  if (!newest.has_value()) return std::nullopt;
  return Summary(*newest);
}

absl::StatusOr<std::optional<SpaceReport>> LocalSnapshotRepository::Space(
    std::vector<v1::Warning>* /*notices*/) {
  absl::StatusOr<uint64_t> free_bytes = repo_->FreeBytes();
  if (!free_bytes.ok()) return RepositoryUnusable(free_bytes.status());
  if (*free_bytes == UINT64_MAX) return std::nullopt;  // object storage: nothing to check
  absl::StatusOr<double> ratio = repo_->ObservedCompressionRatio();
  return SpaceReport{*free_bytes, ratio.ok() ? *ratio : 1.0, repo_->path()};
}

absl::Status LocalSnapshotRepository::BeginWrite(const std::string& description) {
  absl::StatusOr<std::unique_ptr<WriterLock>> lock = repo_->LockForWrite(description);
  if (!lock.ok()) return RepositoryUnusable(lock.status());
  lock_ = *std::move(lock);
  return absl::OkStatus();
}

absl::StatusOr<v1::Manifest> LocalSnapshotRepository::Commit(const v1::Manifest& manifest,
                                                             std::string metadata_index,
                                                             std::string payload_index) {
  // A gc that found this backup's lock stale may have collected chunks it
  // relies on (gc.h): never commit then.
  if (lock_) {
    if (absl::Status held = lock_->Held(); !held.ok()) return WithPhase(held, v1::PHASE_COMMIT);
  }
  absl::StatusOr<v1::Manifest> committed =
      repo_->CommitSnapshot(manifest, metadata_index, payload_index);
  if (!committed.ok()) return WithPhase(committed.status(), v1::PHASE_COMMIT);
  return committed;
}

// --- LocalEntrySource -----------------------------------------------------------------

LocalEntrySource::LocalEntrySource(const v1::BackupPlan& plan, fs::FileSystem* fs, Repository* repo,
                                   const CancelToken* cancel, size_t window_entries)
    : plan_(plan), fs_(fs), repo_(repo), cancel_(cancel), window_entries_(window_entries) {}

absl::StatusOr<const fs::PathMatcher*> LocalEntrySource::Excludes() {
  if (!excludes_) {
    std::vector<std::string> patterns(plan_.excludes().begin(), plan_.excludes().end());
    absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(patterns);
    if (!m.ok()) return WithPhase(m.status(), v1::PHASE_SETUP);
    excludes_ = *std::move(m);
  }
  return &*excludes_;
}

absl::StatusOr<uint64_t> LocalEntrySource::EstimateBytes(const std::string& parent_id) {
  ASSIGN_OR_RETURN(const fs::PathMatcher* excludes, Excludes());
  if (!parent_id.empty()) {
    absl::StatusOr<std::unique_ptr<ParentSnapshot>> parent =
        ParentSnapshot::Open(*repo_, parent_id);
    if (!parent.ok()) return WithPhase(parent.status(), v1::PHASE_SETUP);
    absl::StatusOr<IncrementalEstimate> changed =
        EstimateChangedBytes(fs_, plan_.source(), excludes, plan_.one_file_system(), parent->get(),
                             plan_.ignore_ctime(), cancel_);
    if (!changed.ok()) {
      return WithPhase(changed.status(),
                       absl::IsDataLoss(changed.status()) ? v1::PHASE_SETUP : v1::PHASE_COLLECTION);
    }
    return changed->bytes_to_read;
  }
  absl::StatusOr<uint64_t> bytes =
      EstimateSourceBytes(fs_, plan_.source(), excludes, plan_.one_file_system());
  if (!bytes.ok()) return WithPhase(bytes.status(), v1::PHASE_COLLECTION);
  return bytes;
}

absl::StatusOr<CollectResult> LocalEntrySource::Collect(
    const CollectParams& params, ArchiveSink* archive, Progress* progress,
    const std::function<void(const v1::Warning&)>& on_warning) {
  ASSIGN_OR_RETURN(const fs::PathMatcher* excludes, Excludes());
  std::unique_ptr<ParentSnapshot> parent;
  if (!params.parent_id.empty()) {
    absl::StatusOr<std::unique_ptr<ParentSnapshot>> opened =
        ParentSnapshot::Open(*repo_, params.parent_id);
    if (opened.ok()) {
      parent = *std::move(opened);
    } else if (params.parent_required) {
      return WithPhase(
          absl::Status(opened.status().code(), absl::StrCat("parent snapshot ", params.parent_id,
                                                            ": ", opened.status().message())),
          v1::PHASE_COLLECTION);
    } else {
      v1::Warning w = MakeDataMissingWarning(
          v1::PHASE_ARCHIVE, "",
          absl::StrCat("parent snapshot ", params.parent_id, " is unusable (",
                       opened.status().message(), "): every file is read"));
      w.set_data_missing(false);
      on_warning(w);
    }
  }
  CollectionPlan plan;
  plan.source = plan_.source();
  plan.excludes = excludes;
  plan.one_file_system = plan_.one_file_system();
  for (const v1::Command& c : plan_.commands()) {
    plan.commands.push_back({c.name(), c.command_line(), c.critical()});
  }
  plan.parent = parent.get();
  if (parent != nullptr) {
    ChunkStore* const chunks = repo_->chunks();
    plan.parent_chunk_present = [chunks](const Digest& d) { return chunks->Has(d); };
  }
  plan.parent_required = params.parent_required;
  plan.ignore_ctime = plan_.ignore_ctime();
  plan.align_threshold = params.align_threshold;
  plan.window_entries = window_entries_;
  CollectResult result;
  CollectionOutput output;
  absl::Status st = RunCollection(
      plan, fs_, archive,
      [&result](const v1::CommandResult& c) {
        result.commands.push_back(c);
        return absl::OkStatus();
      },
      cancel_, progress, &output);
  for (const v1::Warning& w : output.warnings) on_warning(w);
  if (!st.ok()) return st;
  result.stats = std::move(output.stats);
  return result;
}

// --- LocalChunkSink -----------------------------------------------------------------------

LocalChunkSink::LocalChunkSink(ChunkStore* store, const RepositoryKey* key, Codec codec,
                               int level, int workers)
    : store_(store), writer_(store, key, codec, level), queue_(static_cast<size_t>(workers) * 2 + 2) {
  for (int i = 0; i < workers; ++i) {
    threads_.emplace_back([this] {
      while (std::optional<PendingChunk> chunk = queue_.Pop()) {
        if (failed_.load()) continue;  // drain
        absl::Status st = writer_.Process(std::move(*chunk));
        if (!st.ok()) {
          absl::MutexLock l(&mu_);
          if (error_.ok()) error_ = st;
          failed_.store(true);
        }
      }
    });
  }
}

LocalChunkSink::~LocalChunkSink() { Abort(absl::AbortedError("the backup stopped")); }

void LocalChunkSink::Join() {
  if (joined_) return;
  joined_ = true;
  queue_.Close();
  for (std::thread& t : threads_) t.join();
}

absl::Status LocalChunkSink::Consume(PendingChunk chunk) {
  if (failed_.load() || !queue_.Push(std::move(chunk))) {
    return absl::AbortedError("pipeline stopped");
  }
  return absl::OkStatus();
}

absl::Status LocalChunkSink::Finish() {
  Join();
  RETURN_IF_ERROR(error());
  // The chunks are durable once the store flushed them.
  return WithPhase(store_->Flush(), v1::PHASE_UPLOAD);
}

void LocalChunkSink::Abort(absl::Status why) {
  {
    absl::MutexLock l(&mu_);
    if (error_.ok() && !joined_) error_ = std::move(why);
  }
  failed_.store(true);
  Join();
}

absl::Status LocalChunkSink::error() const {
  absl::MutexLock l(&mu_);
  return error_;
}

absl::StatusOr<ChunkIndex> LocalChunkSink::BuildIndex(v1::StreamKind stream) const {
  return writer_.BuildIndex(stream);
}

ChunkSinkTotals LocalChunkSink::totals() const { return TotalsOf(writer_.stats()); }

absl::StatusOr<ChunkSink*> LocalChunkDestination::Open(v1::Codec codec, int level) {
  const int workers =
      workers_ > 0 ? workers_ : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  sink_ = std::make_unique<LocalChunkSink>(store_, key_, static_cast<Codec>(codec), level, workers);
  return sink_.get();
}

}  // namespace arca
