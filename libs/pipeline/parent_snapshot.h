// Metadata change detection (issue 4): the parent snapshot of a backup, read
// in step with the new tree, and the rule that decides whether a file is
// unchanged (docs/change-detection.md).
#ifndef ARCA_LIBS_PIPELINE_PARENT_SNAPSHOT_H_
#define ARCA_LIBS_PIPELINE_PARENT_SNAPSHOT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/store/repository.h"

namespace arca {

// Streams the parent's metadata stream: memory is one entry plus a few
// chunks, whatever the size of the tree. Not thread-safe.
class ParentSnapshot {
 public:
  // NotFound for an unknown id; DataLoss when its manifest or indexes are
  // damaged.
  static absl::StatusOr<std::unique_ptr<ParentSnapshot>> Open(Repository& repo,
                                                              absl::string_view id);
  // The same from a snapshot's encoded indexes and any chunk source (e.g.
  // one that fetches chunks from an uploader service).
  static absl::StatusOr<std::unique_ptr<ParentSnapshot>> FromIndexes(
      std::string id, const std::string& metadata_index, const std::string& payload_index,
      std::unique_ptr<ChunkSource> source);

  const std::string& id() const { return id_; }
  const ChunkIndex& payload_index() const { return payload_index_; }

  // The parent's entry at `path`, or nullptr when it has none. Successive
  // calls must ask for paths in strictly increasing archive order (the walk
  // order); the returned entry is valid until the next call. DataLoss when
  // the parent's metadata stream is damaged (a chunk missing, moved aside
  // or corrupt, or records that do not decode; the message names the
  // parent and the chunk); another code when its chunks cannot be fetched
  // (e.g. UNAVAILABLE, CANCELLED). After an error every later call returns
  // the same error.
  absl::StatusOr<const v1::Entry*> Find(absl::string_view path);

 private:
  ParentSnapshot(std::unique_ptr<ChunkSource> source, std::string id, ChunkIndex metadata,
                 ChunkIndex payload);

  std::string id_;
  ChunkIndex metadata_index_;
  ChunkIndex payload_index_;
  std::unique_ptr<ChunkSource> source_;
  StreamReader stream_;
  MetadataStreamReader reader_;
  v1::Entry current_;
  bool has_current_ = false;
  bool done_ = false;
  absl::Status error_;  // the first error of Find: sticky
};

// True when `now` (from the walk) may reuse the payload of `before` (the
// parent's entry at the same path) without reading the file: both regular
// files with a single link, and type, size, mode, uid, gid, mtime (ns),
// ctime (ns, unless ignore_ctime), xattrs and ACLs all equal.
bool UnchangedSince(const v1::Entry& now, const v1::Entry& before, bool ignore_ctime);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_PARENT_SNAPSHOT_H_
