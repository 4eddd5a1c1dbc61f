// The gRPC ports of the restore job (libs/pipeline/restore_ports.h).
//
//   RemoteSnapshotSource  the snapshot from the uploader replicas
//                         (GetSnapshot), its chunks fetched with GetChunks and
//                         decoded on compressor replicas (Decompress; in this
//                         process when there are none), read ahead in index
//                         order; an encrypted repository's chunks checked
//                         against their keyed ids (GetChunkIdKey)
//   RemoteTreeTarget      a collector's WriteTree stream: entries and file
//                         data in batches of about 1 MiB; the collector writes
//                         them with its TreeWriter; a file whose data is
//                         damaged is given up with an `abandon` item
#ifndef ARCA_SERVICES_CHUNKER_REMOTE_RESTORE_PORTS_H_
#define ARCA_SERVICES_CHUNKER_REMOTE_RESTORE_PORTS_H_

#include <memory>
#include <optional>
#include <string>

#include "arca/v1/chunker.pb.h"
#include "arca/v1/collector.grpc.pb.h"
#include "libs/pipeline/remote/call_registry.h"
#include "libs/pipeline/read_ahead_chunk_source.h"
#include "libs/pipeline/remote/remote_chunk_source.h"
#include "libs/pipeline/remote/replica_set.h"
#include "libs/pipeline/restore_ports.h"
#include "prometheus/counter.h"
#include "services/chunker/remote_backup_ports.h"

namespace arca::services {

class RemoteSnapshotSource final : public SnapshotSource {
 public:
  // Not owned: uploaders, compressors (may be empty: decode here), calls.
  RemoteSnapshotSource(ReplicaSet* uploaders, ReplicaSet* compressors, CallRegistry* calls,
                       RemoteCallTimeouts timeouts, size_t read_ahead);

  absl::StatusOr<const RestoreSnapshot*> Open(const std::string& id_or_latest) override;
  ChunkSource* metadata_chunks() override { return meta_ahead_.get(); }
  ChunkSource* payload_chunks() override { return payload_ahead_.get(); }
  void ExpectPayloadOffset(uint64_t offset) override { payload_ahead_->ExpectOffset(offset); }

 private:
  ReplicaSet* uploaders_;
  CallRegistry* calls_;
  RemoteCallTimeouts timeouts_;
  size_t read_ahead_;
  std::optional<RepositoryKey> key_;  // an encrypted repository's id key (Open)
  RemoteChunkSource source_;
  std::optional<RestoreSnapshot> snapshot_;
  std::unique_ptr<ReadAheadChunkSource> meta_ahead_;  // after snapshot_: destroyed first
  std::unique_ptr<ReadAheadChunkSource> payload_ahead_;
};

class RemoteTreeTarget final : public TreeTarget {
 public:
  // The plan's target, includes and job id; collector and calls not owned.
  // `restored_bytes` (may be null; not owned) counts the file data sent.
  RemoteTreeTarget(const v1::RestorePlan& plan, ReplicaSet* collector, CallRegistry* calls,
                   RemoteCallTimeouts timeouts, prometheus::Counter* restored_bytes)
      : plan_(plan),
        collector_(collector),
        calls_(calls),
        timeouts_(timeouts),
        restored_bytes_(restored_bytes) {}
  ~RemoteTreeTarget() override;

  absl::Status Start(const std::string& snapshot_id) override;
  absl::Status BeginEntry(const v1::Entry& entry) override;
  absl::Status WriteData(std::span<const uint8_t> data) override;
  absl::Status FinishEntry() override;
  // Appends an `abandon` item (the reason) to the batch: the collector gives
  // the file up (TreeWriter::AbandonEntry) and the restore goes on.
  absl::Status AbandonEntry(const absl::Status& why) override;
  absl::StatusOr<TreeTargetResult> Finish() override;
  absl::Status Abort(const absl::Status& why) override;

 private:
  absl::Status Send(const v1::WriteTreeRequest& message);
  absl::Status Flush();
  // The stream's end: the collector's status, named.
  absl::Status Close();

  const v1::RestorePlan& plan_;
  ReplicaSet* collector_;
  CallRegistry* calls_;
  RemoteCallTimeouts timeouts_;
  prometheus::Counter* restored_bytes_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<CallRegistry::Scoped> registered_;
  std::unique_ptr<grpc::ClientWriter<v1::WriteTreeRequest>> stream_;
  v1::WriteTreeResponse response_;
  v1::WriteTreeRequest batch_;
  size_t batch_bytes_ = 0;
  bool broken_ = false;
  bool closed_ = false;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_CHUNKER_REMOTE_RESTORE_PORTS_H_
