// The restore side of the collector (Collector.WriteTree) without gRPC: a
// TreeWriter (libs/restore) fed by the items of a WriteTree stream.
//
// Protocol: the first message carries the RestoreTarget (handled by Open);
// then entries in archive order, each regular file's entry followed by its
// data (FileData items, any sizes, the file's payload bytes in order: for a
// sparse file the bytes of its extents). An entry is finished when the next
// one arrives, and the last one by Finish. Items may come grouped in batches.
// An `abandon` item gives the current regular file up instead (its data is
// damaged in the snapshot: TreeWriter::AbandonEntry keeps the bytes written so
// far, without the entry's metadata); counted in entries_abandoned.
// The RestoreTarget's overwrite and delete_extraneous are TreeWriterOptions
// (delete bounded by its includes); a file kept by the overwrite policy
// still receives its data, which is checked for length and dropped.
//
// Errors (all with PHASE_RESTORE attached):
//   INVALID_ARGUMENT  a target that is empty or not absolute, an unknown
//                     overwrite value, a bad include pattern (with
//                     delete_extraneous), delete_extraneous into "/";
//   PERMISSION_DENIED a target outside every --restore-root (Open); an item that is
//                     empty, a second target, a nested batch; an entry that
//                     fails ValidateEntry (absolute path, "..", ...); data
//                     or `abandon` with no regular file open;
//   TreeWriter's own errors (DATA_LOSS: more or fewer bytes than declared;
//   FAILED_PRECONDITION, PERMISSION_DENIED, RESOURCE_EXHAUSTED ...).
//
// Thread-safety: not thread-safe; one per stream.
#ifndef ARCA_SERVICES_COLLECTOR_WRITE_TREE_SESSION_H_
#define ARCA_SERVICES_COLLECTOR_WRITE_TREE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "arca/v1/collector.pb.h"
#include "libs/restore/tree_writer.h"

namespace arca::services {

class WriteTreeSession {
 public:
  // Opens the target's canonical path (fs::CanonicalizePath) when it lies
  // within one of the canonical `restore_roots`; PERMISSION_DENIED naming the
  // target and the roots otherwise (every target when there are no roots).
  static absl::StatusOr<std::unique_ptr<WriteTreeSession>> Open(
      const v1::RestoreTarget& target, const std::vector<std::string>& restore_roots);

  // Applies one item (a batch: each of its items, in order).
  absl::Status Apply(const v1::WriteTreeRequest& item);
  // Finishes the last entry and applies the directories' metadata.
  absl::Status Finish();

  // Entries and bytes written, entries abandoned, and the warnings so far.
  v1::WriteTreeResponse Response();

 private:
  explicit WriteTreeSession(std::unique_ptr<TreeWriter> writer) : writer_(std::move(writer)) {}
  absl::Status ApplyOne(const v1::WriteTreeRequest& item);

  std::unique_ptr<TreeWriter> writer_;
  bool in_entry_ = false;
  bool in_file_ = false;
  uint64_t abandoned_ = 0;
  std::vector<v1::Warning> warnings_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_COLLECTOR_WRITE_TREE_SESSION_H_
