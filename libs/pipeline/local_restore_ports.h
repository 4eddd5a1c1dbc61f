// The local ports of the restore job (restore_ports.h): embedded mode.
//
//   LocalSnapshotSource  a snapshot of a Repository on this machine
//   LocalTreeTarget      a TreeWriter (libs/restore) writing here, through a
//                        WritableFileSystem (POSIX by default)
#ifndef ARCA_LIBS_PIPELINE_LOCAL_RESTORE_PORTS_H_
#define ARCA_LIBS_PIPELINE_LOCAL_RESTORE_PORTS_H_

#include <memory>
#include <optional>
#include <string>

#include "libs/fs/writable_file_system.h"
#include "libs/pipeline/read_ahead_chunk_source.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/pipeline/restore_ports.h"
#include "libs/restore/tree_writer.h"
#include "libs/store/repository.h"

namespace arca {

class LocalSnapshotSource final : public SnapshotSource {
 public:
  explicit LocalSnapshotSource(Repository* repo) : repo_(repo), chunks_(repo->chunks(), repo->key()) {}

  // On object storage (no local chunk store) both streams are read ahead
  // (each chunk is a round trip): metadata 4 chunks, payload 16 on 8 threads.
  absl::StatusOr<const RestoreSnapshot*> Open(const std::string& id_or_latest) override;
  ChunkSource* metadata_chunks() override {
    return meta_ahead_ ? static_cast<ChunkSource*>(meta_ahead_.get()) : &chunks_;
  }
  ChunkSource* payload_chunks() override {
    return payload_ahead_ ? static_cast<ChunkSource*>(payload_ahead_.get()) : &chunks_;
  }
  // On a local chunk store, the RepositoryChunkSource (thread-safe); on
  // object storage none (each chunk is a round trip: the read-ahead of
  // payload_chunks() already runs 8 fetches at once).
  ChunkSource* concurrent_payload_chunks() override {
    return payload_ahead_ ? nullptr : &chunks_;
  }

 private:
  Repository* repo_;
  RepositoryChunkSource chunks_;
  std::optional<RestoreSnapshot> snapshot_;
  std::unique_ptr<ReadAheadChunkSource> meta_ahead_;  // after snapshot_: destroyed first
  std::unique_ptr<ReadAheadChunkSource> payload_ahead_;
};

class LocalTreeTarget final : public TreeTarget {
 public:
  // `fs` null: the POSIX file system; not owned. `options`: overwrite
  // policy and delete (TreeWriter::Open's).
  LocalTreeTarget(std::string target, fs::WritableFileSystem* fs, TreeWriterOptions options = {})
      : target_(std::move(target)), fs_(fs), options_(std::move(options)) {}

  absl::Status Start(const std::string& snapshot_id) override;
  absl::Status BeginEntry(const v1::Entry& entry) override { return writer_->BeginEntry(entry); }
  absl::Status WriteData(std::span<const uint8_t> data) override {
    return writer_->WriteData(data);
  }
  bool SkipsCurrentData() override { return writer_->skipping_entry(); }
  bool SupportsParallelData() override { return true; }
  absl::Status WriteDataAt(uint64_t data_offset, std::span<const uint8_t> data) override {
    return writer_->WriteDataAt(data_offset, data);
  }
  absl::Status EndParallelData(uint64_t intact) override {
    return writer_->EndParallelData(intact);
  }
  absl::Status FinishEntry() override { return writer_->FinishEntry(); }
  absl::Status AbandonEntry(const absl::Status& /*why*/) override {
    return writer_->AbandonEntry();
  }
  absl::StatusOr<TreeTargetResult> Finish() override;
  absl::Status Abort(const absl::Status& why) override;

 private:
  std::string target_;
  fs::WritableFileSystem* fs_;
  TreeWriterOptions options_;
  std::unique_ptr<TreeWriter> writer_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_LOCAL_RESTORE_PORTS_H_
