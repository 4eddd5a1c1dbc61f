// One large regular file of a restore written by several threads at once,
// by ranges of payload chunks: each worker reads its range through its own
// StreamReader (over a ChunkSource several threads may call) and writes it
// at its offset (TreeTarget::WriteDataAt: pwrite), so decoding (read,
// decompress, SHA-256) and writing run on every core instead of one. Sparse
// files keep their holes (the target maps data offsets to extents).
//
// Damage (DATA_LOSS from a chunk): the lowest damaged offset wins; pieces
// before it are still written, pieces after it are given up, and the caller
// cuts the file to the intact prefix (EndParallelData), so the outcome is
// the sequential restore's: the intact beginning, then AbandonEntry.
#ifndef ARCA_LIBS_PIPELINE_PARALLEL_FILE_WRITE_H_
#define ARCA_LIBS_PIPELINE_PARALLEL_FILE_WRITE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/worker_pool.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"
#include "libs/pipeline/restore_ports.h"

namespace arca {

struct ParallelFileWrite {
  const ChunkIndex* payload_index = nullptr;  // not owned
  ChunkSource* chunks = nullptr;              // thread-safe; not owned
  TreeTarget* target = nullptr;               // SupportsParallelData(); not owned
  WorkerPool* pool = nullptr;                 // runs the workers; not owned
  int workers = 2;                            // pieces in flight at once (>= 1)
  // A piece is whole chunks of about this many bytes (the first and last
  // clipped to the file's range).
  uint64_t piece_bytes = 8u << 20;
  Progress* progress = nullptr;         // bytes written are added; may be null
  const CancelToken* cancel = nullptr;  // may be null
};

// Writes payload bytes [offset, offset + length) as the data of the target's
// current regular file (data offset 0 = `offset`), then returns the number
// of bytes intact from the start: `length`, or the offset (relative) of the
// first damaged byte, with *damage set to the DATA_LOSS that says why (the
// reader's message, with its phase). Every worker has stopped when it
// returns. Errors (the target's, a cancellation's, a non-DATA_LOSS error of
// the source): the first one seen; the file's contents are then undefined
// (the caller aborts the restore).
absl::StatusOr<uint64_t> WriteFileInParallel(const ParallelFileWrite& w, uint64_t offset,
                                             uint64_t length, absl::Status* damage);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_PARALLEL_FILE_WRITE_H_
