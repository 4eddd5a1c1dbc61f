// The local ports of the backup job (backup_ports.h): embedded mode, every
// phase in this process over a local repository.
//
//   LocalSnapshotRepository  a Repository (libs/store) on this machine
//   LocalEntrySource         the plan's source on a FileSystem, collected
//                            here (collection.h), the parent read from the
//                            repository
//   LocalChunkDestination    ChunkWriter (hash, deduplicate, compress,
//                            store) on `workers` threads fed by a bounded
//                            queue
#ifndef ARCA_LIBS_PIPELINE_LOCAL_BACKUP_PORTS_H_
#define ARCA_LIBS_PIPELINE_LOCAL_BACKUP_PORTS_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "arca/v1/chunker.pb.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup_ports.h"
#include "libs/pipeline/bounded_queue.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/chunk_writer.h"
#include "libs/pipeline/commands.h"
#include "libs/store/repository.h"

namespace arca {

class LocalSnapshotRepository final : public SnapshotRepository {
 public:
  explicit LocalSnapshotRepository(Repository* repo) : repo_(repo) {}  // not owned

  absl::StatusOr<v1::RepositoryConfig> Config() override;
  absl::StatusOr<SnapshotSummary> GetSnapshot(const std::string& id) override;
  absl::StatusOr<std::optional<SnapshotSummary>> LatestSnapshot(const std::string& group) override;
  absl::StatusOr<std::optional<SpaceReport>> Space(std::vector<v1::Warning>* notices) override;
  absl::Status BeginWrite(const std::string& description) override;
  absl::StatusOr<v1::Manifest> Commit(const v1::Manifest& manifest, std::string metadata_index,
                                      std::string payload_index) override;

 private:
  Repository* repo_;
  std::unique_ptr<WriterLock> lock_;
};

class LocalEntrySource final : public EntrySource {
 public:
  // `plan`'s source, excludes, one_file_system, commands (with their
  // command lines) and ignore_ctime; fs and repo not owned; cancel may be
  // null. window_entries: see ReuseOptions.
  LocalEntrySource(const v1::BackupPlan& plan, fs::FileSystem* fs, Repository* repo,
                   const CancelToken* cancel, size_t window_entries);

  absl::StatusOr<uint64_t> EstimateBytes(const std::string& parent_id) override;
  absl::StatusOr<CollectResult> Collect(
      const CollectParams& params, ArchiveSink* archive, Progress* progress,
      const std::function<void(const v1::Warning&)>& on_warning) override;

 private:
  absl::StatusOr<const fs::PathMatcher*> Excludes();

  const v1::BackupPlan& plan_;
  fs::FileSystem* fs_;
  Repository* repo_;
  const CancelToken* cancel_;
  size_t window_entries_;
  std::optional<fs::PathMatcher> excludes_;
};

class LocalChunkSink final : public ChunkSink {
 public:
  // store and key not owned (key null: a plaintext repository); workers >= 1.
  LocalChunkSink(ChunkStore* store, const RepositoryKey* key, Codec codec, int level, int workers);
  ~LocalChunkSink() override;

  absl::Status Consume(PendingChunk chunk) override;
  absl::Status Finish() override;
  void Abort(absl::Status why) override;
  absl::Status error() const override;
  absl::StatusOr<ChunkIndex> BuildIndex(v1::StreamKind stream) const override;
  ChunkSinkTotals totals() const override;

 private:
  void Join();

  ChunkStore* store_;
  ChunkWriter writer_;
  BoundedQueue<PendingChunk> queue_;
  std::atomic<bool> failed_{false};
  mutable absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
  bool joined_ = false;
};

class LocalChunkDestination final : public ChunkDestination {
 public:
  // workers <= 0: one per core. `key`: the repository's (null if plaintext).
  LocalChunkDestination(ChunkStore* store, const RepositoryKey* key, int workers)
      : store_(store), key_(key), workers_(workers) {}
  absl::StatusOr<ChunkSink*> Open(v1::Codec codec, int level) override;

 private:
  ChunkStore* store_;
  const RepositoryKey* key_;
  int workers_;
  std::unique_ptr<LocalChunkSink> sink_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_LOCAL_BACKUP_PORTS_H_
