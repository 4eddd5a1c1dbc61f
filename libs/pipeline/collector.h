// The collection phase (the collector service's logic): walks a tree, runs
// the change-detection decisions against the parent snapshot, reads the
// files that must be read, and feeds everything, in walk order, to an
// ArchiveSink: the archive phase in this process (ArchiveBuilder), or in
// distributed mode a stream to a chunker service.
#ifndef ARCA_LIBS_PIPELINE_COLLECTOR_H_
#define ARCA_LIBS_PIPELINE_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "libs/fs/file_system.h"
#include "libs/fs/tree_walker.h"
#include "libs/hash/digest.h"
#include "libs/pipeline/archive_sink.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/parent_snapshot.h"
#include "libs/pipeline/progress.h"

namespace arca {

// Change detection settings for one backup (docs/change-detection.md).
struct ReuseOptions {
  ParentSnapshot* parent = nullptr;  // null: every file is read
  bool ignore_ctime = false;
  // Files at least this large start and end on a chunk boundary, so a later
  // backup reuses exactly their chunks.
  uint64_t align_threshold = 1u << 20;
  // Entries held back while their reuse is decided (bounds memory: ~0.5 KiB
  // each).
  size_t window_entries = 32768;
  // Whether a parent chunk is still stored (ChunkStore::Has), asked before
  // an unchanged file reuses it: a chunk moved aside after failing
  // verification (or lost) makes the file be read again, so the backup
  // stores the data again (self-healing). Null: every parent chunk is
  // assumed stored (the chunk writer still refuses a missing one).
  std::function<absl::StatusOr<bool>(const Digest&)> chunk_present;
  // The operator named the parent. When its metadata stream turns out to be
  // damaged (ParentSnapshot::Find: DataLoss) the backup fails (PHASE_ARCHIVE);
  // otherwise a warning (not data_missing) names the parent and the chunk,
  // and every file from that path on is read (files before it were reused
  // as usual), so the snapshot is complete.
  bool parent_required = false;
};

// A warning about source data missing from the snapshot (exit 3).
v1::Warning MakeDataMissingWarning(v1::Phase phase, const std::string& path, std::string message);

// Collects one tree into a sink. Not thread-safe. Stats and warnings are
// added to the caller's objects.
class TreeCollector {
 public:
  TreeCollector(fs::FileSystem* fs, ArchiveSink* archive, const CancelToken* cancel,
                v1::BackupStats* stats, std::vector<v1::Warning>* warnings, ReuseOptions reuse);
  ~TreeCollector();

  // Walks everything. Errors stop the backup and carry their phase;
  // unreadable files are warnings (data_missing), not errors.
  absl::Status Run(fs::TreeWalker& walker);

  // Optional live counters (files, bytes, entries, warnings; see
  // progress.h), updated as Run() goes; null (the default) = none. Set
  // before Run(); not owned.
  void set_progress(Progress* progress);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_COLLECTOR_H_
