// The Collector service (protos/arca/v1/collector.proto): the node agent that
// reads source trees for backups and writes them for restores. Thin: the
// collection is libs/pipeline TreeCollector (walk, change detection, reads)
// writing into a CollectEventSink (libs/pipeline/remote/collect_events.h),
// whose events go out on the Collect stream; restores are a TreeWriter fed by
// WriteTreeSession.
//
// Synchronous gRPC handlers (the work is blocking file I/O): one thread per
// running call. Backpressure: a Collect handler blocks in Write while the
// chunker does not read (gRPC flow control), so at most one ~1 MiB batch is
// buffered per call beyond the transport's window.
//
// Change detection: with CollectRequest.parent_snapshot set, the parent's
// indexes come from Uploader.GetSnapshot and its metadata chunks from
// Uploader.GetChunks (decoded here, libs/blob), read in step with the walk
// (ParentSnapshot): memory stays a few chunks whatever the tree size.
//
// Errors of Collect (all with PHASE_COLLECTION unless said otherwise):
//   INVALID_ARGUMENT  source empty or relative; a bad exclude pattern; a bad
//                     or duplicate command name; parent_snapshot without
//                     uploaders; a missing_parent_chunks digest that is not
//                     32 bytes, or more than kMaxMissingParentChunks of them;
//                     downstream set (only reply-on-this-stream is
//                     implemented: UNIMPLEMENTED);
//   PERMISSION_DENIED the source (canonical: symbolic links and ".."
//                     resolved) is outside every --source-root, or there is
//                     none; a command with a command_line (requests send
//                     names only); a command name not in --commands-file.
//                     Checked before anything is read or run;
//   NOT_FOUND         the source does not exist;
//   FAILED_PRECONDITION  the source is not a directory, or a critical
//                     pre-backup command failed;
//   the parent's errors when parent_required (else a warning and every file
//   is read; a parent metadata stream found damaged during the walk likewise:
//   DATA_LOSS with PHASE_ARCHIVE when required, else a warning and every
//   later file is read); CANCELLED when the chunker cancels or goes away.
// Self-healing: unchanged files that would reuse a chunk listed in
// missing_parent_chunks are read (none reused with parent_chunks_unusable).
// Unreadable files are warning events (data_missing), not errors.
// Errors of WriteTree: see write_tree_session.h (PHASE_RESTORE; a target
// outside every --restore-root is PERMISSION_DENIED before anything is
// written); an empty stream or a first message without a target is
// INVALID_ARGUMENT.
//
// Thread-safety: thread-safe.
#ifndef ARCA_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
#define ARCA_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "arca/v1/collector.grpc.pb.h"
#include "libs/fs/file_system.h"
#include "libs/metrics/service_metrics.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/commands.h"
#include "libs/pipeline/remote/call_registry.h"
#include "libs/pipeline/remote/collect_events.h"
#include "services/common/client_channel.h"

namespace arca::services {

struct CollectorOptions {
  // The collector's reach, set by its node's admin, never by a request:
  // canonical directories (fs::CanonicalizeRoots) that Collect and
  // EstimateCollect may read (--source-root) and WriteTree may write
  // (--restore-root). Empty: every request is refused (default deny).
  // Checked on the real file system (realpath), whatever `fs` is.
  std::vector<std::string> source_roots;
  std::vector<std::string> restore_roots;
  // The pre-backup commands requests may name (--commands-file).
  CommandCatalog commands;
  ClientTlsFlags peer_tls;                           // channels to uploaders (parent snapshots)
  absl::Duration call_timeout = absl::Seconds(120);  // each call to an uploader
  size_t batch_bytes = 1u << 20;                     // Collect message size
  fs::FileSystem* fs = nullptr;                      // null: the real file system
  std::string program = "arca-collector";            // log prefix
};

class CollectorService final : public v1::Collector::Service {
 public:
  explicit CollectorService(CollectorOptions options);

  // Collect is served by StreamCollect (the constructor installs it): the
  // same RPC on the wire, but each message is written as the encoded bytes
  // CollectEventSink produced, file data uncopied (a grpc::ByteBuffer of
  // slices that own the sink's buffers).
  grpc::Status StreamCollect(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<v1::CollectRequest, grpc::ByteBuffer>* stream);
  grpc::Status WriteTree(grpc::ServerContext* context,
                         grpc::ServerReader<v1::WriteTreeRequest>* reader,
                         v1::WriteTreeResponse* response) override;
  grpc::Status EstimateCollect(grpc::ServerContext* context, const v1::CollectRequest* request,
                               v1::CollectEstimate* response) override;

 private:
  CollectorOptions options_;
};

// The collector's catalog (arca_collector_*) on metrics::ProcessRegistry(),
// created on first use (at the latest by the first CollectorService) and
// shared by every CollectorService of the process. The service counts (the
// functions below, without gRPC, do not):
//   Collect    entries_total{type} as each entry is sent; when the job's
//              CollectDone is sent, its stats: read_bytes (bytes_read: file
//              payload, not command output), reused_bytes / reused_files
//              (change detection), skipped_files (unreadable); failures in
//              errors_total (phase collection, exit 9; 130 when cancelled);
//   EstimateCollect  failures in errors_total like Collect;
//   WriteTree  written_entries / written_bytes from its response (also of a
//              restore that failed part way); failures in errors_total
//              (phase restore, exit 13; 130 when cancelled);
//   Collect and WriteTree calls in progress in streams_running.
metrics::CollectorMetrics& CollectorServiceMetrics();

// The whole Collect call without gRPC: events go to `emit`. `cancel` stops
// the walk; `calls` holds the calls to uploaders (cancelled with the job).
absl::Status RunCollect(const v1::CollectRequest& request, const CollectorOptions& options,
                        const CancelToken* cancel, CallRegistry* calls,
                        const CollectEventSink::Emit& emit);

// The whole EstimateCollect call without gRPC: validates source and
// excludes like Collect, then EstimateSourceBytes (lstat only; commands and
// the parent are ignored). Errors carry PHASE_COLLECTION: INVALID_ARGUMENT,
// PERMISSION_DENIED (outside every --source-root), NOT_FOUND (source
// missing), FAILED_PRECONDITION (not a directory).
absl::StatusOr<uint64_t> RunEstimateCollect(const v1::CollectRequest& request,
                                            const CollectorOptions& options);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
