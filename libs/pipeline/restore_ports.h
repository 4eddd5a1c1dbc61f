// The ports of the restore job (restore_job.h): where a snapshot is read
// from and where the restored tree is written, each with a local
// implementation (local_restore_ports.h: a local repository, a TreeWriter in
// this process) and a gRPC one (services/chunker/remote_restore_ports.h:
// uploader and compressor replicas, a collector's WriteTree). The job never
// knows which mode it runs in.
//
// Thread-safety: the job calls each port from one thread, except the
// parallel data calls below (TreeTarget::WriteDataAt and
// SnapshotSource::concurrent_payload_chunks()).
#ifndef ARCA_LIBS_PIPELINE_RESTORE_PORTS_H_
#define ARCA_LIBS_PIPELINE_RESTORE_PORTS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "arca/v1/common.pb.h"
#include "arca/v1/repository.pb.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/phase_status.h"

namespace arca {

// A snapshot opened for reading.
struct RestoreSnapshot {
  std::string id;
  v1::BackupStats stats;
  ChunkIndex metadata_index;
  ChunkIndex payload_index;
};

class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // The snapshot `id_or_latest` with its indexes decoded; owned by the port
  // (valid until it is destroyed; Open is called once). NOT_FOUND or
  // INVALID_ARGUMENT when there is no such snapshot; DATA_LOSS when its
  // manifest or indexes are damaged.
  virtual absl::StatusOr<const RestoreSnapshot*> Open(const std::string& id_or_latest) = 0;
  // The chunks of the opened snapshot's metadata and payload streams
  // (owned by the port). DATA_LOSS for a missing or corrupt chunk.
  virtual ChunkSource* metadata_chunks() = 0;
  virtual ChunkSource* payload_chunks() = 0;
  // Hint: the payload will be read next at `offset` (the restore skips the
  // data of entries it does not select). The default does nothing.
  virtual void ExpectPayloadOffset(uint64_t /*offset*/) {}
  // The payload's chunks through a source several threads may call at once
  // (owned by the port), for writing a large file by chunk ranges in
  // parallel; null (the default) when there is none: files are then read
  // in order through payload_chunks().
  virtual ChunkSource* concurrent_payload_chunks() { return nullptr; }
};

struct TreeTargetResult {
  uint64_t entries_written = 0;
  uint64_t bytes_written = 0;
  std::vector<v1::Warning> warnings;  // problems that did not stop the restore
  // Entries left as they were (overwrite never / if-changed).
  uint64_t entries_skipped = 0;
  // Delete: nodes removed, and the removed subtrees (the first 1,000).
  uint64_t entries_deleted = 0;
  std::vector<std::string> deleted_paths;
};

// The TreeWriter contract (libs/restore/tree_writer.h), wherever the tree is.
class TreeTarget {
 public:
  virtual ~TreeTarget() = default;
  // Opens (creates) the target directory for `snapshot_id`.
  virtual absl::Status Start(const std::string& snapshot_id) = 0;
  virtual absl::Status BeginEntry(const v1::Entry& entry) = 0;
  virtual absl::Status WriteData(std::span<const uint8_t> data) = 0;
  // After BeginEntry of a regular file: true when the target keeps the
  // existing file (overwrite never / if-changed) and needs none of its data,
  // so the job reads none. The default (RemoteTreeTarget) is false: the
  // collector decides after the entry was sent, so it gets the data and
  // drops it (TreeWriter::skipping_entry).
  virtual bool SkipsCurrentData() { return false; }
  // Parallel data of one large regular file (parallel_file_write.h): when
  // true, the job may replace WriteData by WriteDataAt calls from several
  // threads at once (disjoint ranges of the file's data, nothing else
  // running meanwhile), then one EndParallelData with the bytes that are
  // intact (TreeWriter::WriteDataAt / EndParallelData). The default, false
  // (RemoteTreeTarget: one ordered stream), keeps WriteData.
  virtual bool SupportsParallelData() { return false; }
  virtual absl::Status WriteDataAt(uint64_t /*data_offset*/, std::span<const uint8_t> /*data*/) {
    return absl::UnimplementedError("this restore target writes file data in order only");
  }
  virtual absl::Status EndParallelData(uint64_t /*intact*/) {
    return absl::UnimplementedError("this restore target writes file data in order only");
  }
  virtual absl::Status FinishEntry() = 0;
  // The current entry's data could not be read (`why`, DATA_LOSS: a missing
  // or corrupt chunk): gives the entry up instead of finishing it, so that
  // the restore goes on with the next one (LocalTreeTarget: the intact
  // prefix stays, without the entry's metadata; TreeWriter::AbandonEntry).
  // RemoteTreeTarget sends a WriteTree `abandon` item (the collector's
  // TreeWriter::AbandonEntry). The default is for targets whose protocol
  // cannot express an abandoned entry: a DATA_LOSS naming `why` that stops
  // the restore.
  virtual absl::Status AbandonEntry(const absl::Status& why) {
    // The same code and phase (PHASE_VERIFICATION for a lying decoder).
    return WithMessage(why, absl::StrCat(why.message(),
                                         "; this restore target cannot skip a damaged file, so "
                                         "the restore stopped here (an embedded `arca restore` "
                                         "restores past damaged files)"));
  }
  // After the last entry: applies what is pending (directory metadata) and
  // reports what was written.
  virtual absl::StatusOr<TreeTargetResult> Finish() = 0;
  // The restore stopped (`why`): releases what Start opened; the error the
  // target itself had, if it explains the stop better (else OK).
  virtual absl::Status Abort(const absl::Status& why) = 0;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_RESTORE_PORTS_H_
