#include "libs/pipeline/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_content_reader.h"
#include "libs/fs/tree_walker.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/bounded_queue.h"
#include "libs/pipeline/chunk_writer.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/parent_snapshot.h"
#include "libs/pipeline/source_estimate.h"
#include "libs/pipeline/space_check.h"

namespace arca {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

// Hands chunks to the worker threads; refuses more once a worker failed.
class QueueConsumer final : public ChunkConsumer {
 public:
  QueueConsumer(BoundedQueue<PendingChunk>* queue, std::atomic<bool>* failed)
      : queue_(queue), failed_(failed) {}
  absl::Status Consume(PendingChunk chunk) override {
    if (failed_->load() || !queue_->Push(std::move(chunk))) {
      return absl::AbortedError("pipeline stopped");
    }
    return absl::OkStatus();
  }

 private:
  BoundedQueue<PendingChunk>* queue_;
  std::atomic<bool>* failed_;
};

// A failure before the pipeline started (exit 2, 4 or 5).
BackupResult Fail(BackupResult result, ExitCode code, absl::Status status) {
  result.exit_code = code;
  result.status = WithPhase(std::move(status), v1::PHASE_SETUP);
  return result;
}

BackupResult FailPhase(BackupResult result, absl::Status status) {
  result.exit_code = ExitCodeOf(status);
  result.status = std::move(status);
  return result;
}

}  // namespace

BackupResult RunBackup(Repository& repo, fs::FileSystem* fs, const BackupOptions& options,
                       const CancelToken* cancel) {
  BackupResult result;
  Progress* const progress = options.progress;
  const ProgressRun progress_run(progress, v1::PHASE_SETUP);
  const auto job_start = Clock::now();
  const auto wall_start = std::chrono::system_clock::now();
  v1::BackupStats stats;

  // --- setup: validate everything before any work starts -------------------
  if (absl::Status st = ValidateLevel(options.codec, options.level); !st.ok()) {
    return Fail(result, ExitCode::kUsage, st);
  }
  if (options.space_safety_factor < 1.0 || options.space_safety_factor > 100) {
    return Fail(result, ExitCode::kUsage,
                absl::InvalidArgumentError(absl::StrCat("invalid --space-safety-factor ",
                                                        options.space_safety_factor,
                                                        ": use a number between 1 and 100")));
  }
  absl::StatusOr<fs::PathMatcher> excludes = fs::PathMatcher::Create(options.excludes);
  if (!excludes.ok()) return Fail(result, ExitCode::kUsage, excludes.status());
  absl::flat_hash_set<std::string> command_names;
  for (const CommandSpec& c : options.commands) {
    if (!command_names.insert(c.name).second) {
      return Fail(
          result, ExitCode::kUsage,
          absl::InvalidArgumentError(absl::StrCat("command name '", c.name, "' is used twice")));
    }
  }
  if (options.source.empty() || options.source[0] != '/') {
    return Fail(result, ExitCode::kUsage,
                absl::InvalidArgumentError(
                    absl::StrCat("source '", options.source, "' must be an absolute path")));
  }
  absl::StatusOr<fs::StatInfo> src = fs->Lstat(options.source);
  if (!src.ok()) {
    return FailPhase(result, WithPhase(absl::Status(src.status().code(),
                                                    absl::StrCat("cannot back up ", options.source,
                                                                 ": ", src.status().message())),
                                       v1::PHASE_COLLECTION));
  }
  if (!S_ISDIR(src->mode)) {
    return FailPhase(result, WithPhase(absl::FailedPreconditionError(absl::StrCat(
                                           "source ", options.source, " is not a directory")),
                                       v1::PHASE_COLLECTION));
  }
  const std::string host = options.host.empty() ? Hostname() : options.host;

  // --- collection: pre-backup commands ---------------------------------------
  struct RanCommand {
    CommandSpec spec;
    CommandOutput output;
  };
  std::vector<RanCommand> ran;
  for (const CommandSpec& spec : options.commands) {
    if (cancel && cancel->cancelled()) return FailPhase(result, cancel->Check("backup"));
    absl::StatusOr<CommandOutput> out = RunCommand(spec);
    std::string problem;
    if (!out.ok()) {
      problem = std::string(out.status().message());
    } else if (out->exit_status != 0) {
      problem = absl::StrCat("exited with status ", out->exit_status,
                             out->stderr_tail.empty() ? "" : ": ", out->stderr_tail);
    }
    if (!problem.empty()) {
      std::string msg = absl::StrCat(spec.critical ? "critical " : "", "command '", spec.name,
                                     "' (", spec.command_line, ") ", problem);
      if (spec.critical) {
        return FailPhase(result, WithPhase(absl::FailedPreconditionError(msg + "; backup stopped"),
                                           v1::PHASE_COLLECTION));
      }
      result.warnings.push_back(
          MakeDataMissingWarning(v1::PHASE_COLLECTION, "commands/" + spec.name, msg));
      if (!out.ok()) continue;
    }
    ran.push_back({spec, std::move(*out)});
  }

  // --- setup: the parent snapshot (change detection) ------------------------
  const std::string group = Repository::GroupName(host, options.source);
  std::unique_ptr<ParentSnapshot> parent;
  v1::BackupStats parent_stats;
  if (options.metadata_change_detection) {
    std::string parent_id = options.parent;
    if (parent_id.empty()) {
      absl::StatusOr<std::vector<v1::Manifest>> previous = repo.ListSnapshots(group);
      if (previous.ok() && !previous->empty()) parent_id = previous->back().id();
      if (!previous.ok()) {
        v1::Warning w = MakeDataMissingWarning(
            v1::PHASE_ARCHIVE, "",
            absl::StrCat("cannot list earlier snapshots (", previous.status().message(),
                         "): every file is read"));
        w.set_data_missing(false);
        result.warnings.push_back(std::move(w));
      }
    }
    if (!parent_id.empty()) {
      absl::StatusOr<std::unique_ptr<ParentSnapshot>> opened =
          ParentSnapshot::Open(repo, parent_id);
      if (opened.ok()) {
        parent = std::move(*opened);
        absl::StatusOr<LoadedSnapshot> loaded = repo.LoadSnapshot(parent->id());
        if (loaded.ok()) parent_stats = loaded->manifest.stats();
      } else if (!options.parent.empty()) {
        return Fail(
            result, ExitCode::kUsage,
            absl::Status(opened.status().code(), absl::StrCat("--parent ", options.parent, ": ",
                                                              opened.status().message())));
      } else {
        v1::Warning w = MakeDataMissingWarning(
            v1::PHASE_ARCHIVE, "",
            absl::StrCat("parent snapshot ", parent_id, " is unusable (", opened.status().message(),
                         "): every file is read"));
        w.set_data_missing(false);
        result.warnings.push_back(std::move(w));
      }
    }
  }
  if (parent) stats.set_parent_snapshot(parent->id());

  // --- setup: free space ------------------------------------------------------
  // Bytes to collect: a metadata walk of the source; with a parent, the
  // parent's collected bytes stand in (no second walk: an upper bound of what
  // an incremental backup stores).
  absl::StatusOr<uint64_t> to_collect =
      parent ? absl::StatusOr<uint64_t>(parent_stats.bytes_collected())
             : EstimateSourceBytes(fs, options.source, &*excludes, options.one_file_system);
  if (!to_collect.ok()) {
    return FailPhase(result, WithPhase(to_collect.status(), v1::PHASE_COLLECTION));
  }
  if (progress) progress->SetBytesTotal(*to_collect);
  absl::StatusOr<double> ratio = repo.ObservedCompressionRatio();
  absl::StatusOr<uint64_t> free_bytes = repo.FreeBytes();
  if (!free_bytes.ok()) return Fail(result, ExitCode::kRepository, free_bytes.status());
  const SpaceEstimate estimate{*to_collect, ratio.ok() ? *ratio : 1.0};
  if (absl::Status st =
          CheckFreeSpace(estimate, *free_bytes, options.space_safety_factor, repo.path());
      !st.ok()) {
    return Fail(result, absl::IsResourceExhausted(st) ? ExitCode::kNoSpace : ExitCode::kUsage, st);
  }

  absl::StatusOr<std::unique_ptr<WriterLock>> lock =
      repo.LockForWrite(absl::StrCat("backup of ", host, ":", options.source));
  if (!lock.ok()) return Fail(result, ExitCode::kRepository, lock.status());

  // --- the pipeline ------------------------------------------------------------
  const v1::RepositoryConfig& config = repo.config();
  const ChunkerParams payload_params = ChunkerParams::FromProto(config.payload_chunker());
  const ChunkerParams metadata_params = ChunkerParams::FromProto(config.metadata_chunker());
  for (const ChunkerParams* p : {&payload_params, &metadata_params}) {
    if (absl::Status st = p->Validate(); !st.ok()) {
      return Fail(result, ExitCode::kRepository,
                  absl::FailedPreconditionError(absl::StrCat(
                      "repository ", repo.path(),
                      " has invalid chunker parameters in its config: ", st.message())));
    }
  }
  int workers = options.workers > 0
                    ? options.workers
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ChunkWriter writer(repo.chunks(), options.codec, options.level);
  BoundedQueue<PendingChunk> queue(static_cast<size_t>(workers) * 2 + 2);
  std::atomic<bool> failed{false};
  absl::Mutex error_mu;
  absl::Status worker_error;
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&] {
      while (std::optional<PendingChunk> chunk = queue.Pop()) {
        if (failed.load()) continue;  // drain
        absl::Status st = writer.Process(std::move(*chunk));
        if (!st.ok()) {
          absl::MutexLock l(&error_mu);
          if (worker_error.ok()) worker_error = st;
          failed.store(true);
        }
      }
    });
  }
  QueueConsumer consumer(&queue, &failed);
  ArchiveBuilder archive(payload_params, metadata_params, config.chunker_seed(), &consumer);

  auto collect_start = Clock::now();
  if (progress) {
    progress->SetWarnings(result.warnings.size());
    progress->SetPhase(v1::PHASE_COLLECTION);
  }
  absl::Status producer = [&]() -> absl::Status {
    for (RanCommand& c : ran) {
      v1::CommandResult* cr = result.manifest.add_commands();
      cr->set_name(c.spec.name);
      cr->set_command_line(c.spec.command_line);
      cr->set_critical(c.spec.critical);
      cr->set_exit_status(c.output.exit_status);
      cr->set_duration_seconds(c.output.duration_seconds);
      cr->mutable_payload()->set_offset(archive.payload_offset());
      cr->mutable_payload()->set_length(c.output.stdout_data.size());
      RETURN_IF_ERROR(WithPhase(archive.AppendPayload(std::span<const uint8_t>(
                                    reinterpret_cast<const uint8_t*>(c.output.stdout_data.data()),
                                    c.output.stdout_data.size())),
                                v1::PHASE_ARCHIVE));
    }
    fs::WalkOptions walk_options;
    walk_options.excludes = &*excludes;
    walk_options.one_file_system = options.one_file_system;
    if (parent && !options.ignore_ctime) {
      // Same inode and ctime as in the parent: xattrs and ACLs are unchanged
      // (setting them moves ctime), so they are not read again.
      ParentSnapshot* p = parent.get();
      walk_options.known_xattrs = [p](v1::Entry* e) {
        absl::StatusOr<const v1::Entry*> found = p->Find(e->path());
        if (!found.ok() || *found == nullptr) return false;
        const v1::Entry& b = **found;
        if (b.type() != e->type() || b.ino() != e->ino() || b.dev() != e->dev() ||
            b.ctime_ns() != e->ctime_ns()) {
          return false;
        }
        *e->mutable_xattrs() = b.xattrs();
        *e->mutable_acl_access() = b.acl_access();
        *e->mutable_acl_default() = b.acl_default();
        return true;
      };
    }
    absl::StatusOr<std::unique_ptr<fs::TreeWalker>> walker =
        fs::TreeWalker::Open(fs, options.source, walk_options);
    if (!walker.ok()) return WithPhase(walker.status(), v1::PHASE_COLLECTION);
    ReuseOptions reuse;
    reuse.parent = parent.get();
    reuse.ignore_ctime = options.ignore_ctime;
    reuse.align_threshold = payload_params.avg_size;
    reuse.window_entries = std::max<size_t>(2, options.change_window_entries);
    TreeCollector collector(fs, &archive, cancel, &stats, &result.warnings, reuse);
    collector.set_progress(progress);
    RETURN_IF_ERROR(collector.Run(**walker));
    return WithPhase(archive.Finish(), v1::PHASE_ARCHIVE);
  }();
  queue.Close();
  for (std::thread& t : threads) t.join();
  const double collect_seconds = Seconds(Clock::now() - collect_start);
  {
    absl::MutexLock l(&error_mu);
    // A worker's error explains why the producer was stopped.
    if (!worker_error.ok()) return FailPhase(result, worker_error);
  }
  if (!producer.ok()) return FailPhase(result, producer);

  // --- commit ----------------------------------------------------------------------
  auto commit_start = Clock::now();
  if (progress) progress->SetPhase(v1::PHASE_COMMIT);
  absl::StatusOr<ChunkIndex> meta_index = writer.BuildIndex(v1::STREAM_KIND_METADATA);
  absl::StatusOr<ChunkIndex> payload_index = writer.BuildIndex(v1::STREAM_KIND_PAYLOAD);
  if (!meta_index.ok()) return FailPhase(result, WithPhase(meta_index.status(), v1::PHASE_ARCHIVE));
  if (!payload_index.ok())
    return FailPhase(result, WithPhase(payload_index.status(), v1::PHASE_ARCHIVE));
  if (absl::Status st = repo.chunks()->Flush(); !st.ok()) {
    return FailPhase(result, WithPhase(st, v1::PHASE_UPLOAD));
  }
  ChunkWriterStats ws = writer.stats();
  stats.set_metadata_bytes(archive.metadata_length());
  stats.set_chunks_total(ws.chunks_total);
  stats.set_chunks_new(ws.chunks_new);
  stats.set_bytes_new_raw(ws.bytes_new_raw);
  stats.set_bytes_new_stored(ws.bytes_new_stored);
  stats.set_bytes_deduplicated(ws.bytes_deduplicated);
  stats.set_compression_ratio(
      ws.bytes_new_raw == 0 ? 1.0 : static_cast<double>(ws.bytes_new_stored) / ws.bytes_new_raw);
  auto& phases = *stats.mutable_phase_seconds();
  phases["collection_and_archive"] = collect_seconds;
  phases["hash_cpu"] = ws.hash_seconds;
  phases["compression_cpu"] = ws.compress_seconds;
  phases["upload"] = ws.store_seconds;

  v1::Manifest& m = result.manifest;
  m.set_group(group);
  m.set_host(host);
  m.add_sources(options.source);
  m.set_time_unix_ns(
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count());
  (*m.mutable_options())["compression"] = std::string(CodecName(options.codec));
  (*m.mutable_options())["level"] = std::to_string(options.level);
  (*m.mutable_options())["one_file_system"] = options.one_file_system ? "true" : "false";
  (*m.mutable_options())["change_detection"] =
      options.metadata_change_detection ? "metadata" : "data";
  if (options.ignore_ctime) (*m.mutable_options())["ignore_ctime"] = "true";
  if (!options.excludes.empty()) {
    (*m.mutable_options())["excludes"] = absl::StrJoin(options.excludes, "\n");
  }
  v1::IndexFileInfo* mi = m.add_indexes();
  mi->set_name("metadata.aidx");
  mi->set_stream(v1::STREAM_KIND_METADATA);
  mi->set_chunk_count(meta_index->size());
  mi->set_stream_length(meta_index->stream_length());
  v1::IndexFileInfo* pi = m.add_indexes();
  pi->set_name("payload.aidx");
  pi->set_stream(v1::STREAM_KIND_PAYLOAD);
  pi->set_chunk_count(payload_index->size());
  pi->set_stream_length(payload_index->stream_length());
  for (const v1::Warning& w : result.warnings) *m.add_warnings() = w;

  phases["commit"] = Seconds(Clock::now() - commit_start);
  stats.set_duration_seconds(Seconds(Clock::now() - job_start));
  *m.mutable_stats() = stats;
  if (cancel && cancel->cancelled()) return FailPhase(result, cancel->Check("backup"));
  absl::StatusOr<v1::Manifest> committed =
      repo.CommitSnapshot(m, meta_index->Encode(v1::STREAM_KIND_METADATA),
                          payload_index->Encode(v1::STREAM_KIND_PAYLOAD));
  if (!committed.ok()) return FailPhase(result, WithPhase(committed.status(), v1::PHASE_COMMIT));
  result.manifest = *committed;

  // Exit 3 when something of the source is missing from the snapshot
  // (unreadable files or directories, failed commands); a skipped socket
  // only warns.
  bool partial = false;
  for (const v1::Warning& w : result.warnings) partial |= w.data_missing();
  result.exit_code = partial ? ExitCode::kPartial : ExitCode::kSuccess;
  return result;
}

}  // namespace arca
