#include "libs/pipeline/incremental_estimate.h"

#include <memory>
#include <utility>

#include "libs/base/status_macros.h"
#include "libs/fs/tree_walker.h"

namespace arca {

absl::StatusOr<IncrementalEstimate> EstimateChangedBytes(
    fs::FileSystem* fs, const std::string& root, const fs::PathMatcher* excludes,
    bool one_file_system, ParentSnapshot* parent, bool ignore_ctime, const CancelToken* cancel) {
  fs::WalkOptions options;
  options.excludes = excludes;
  options.one_file_system = one_file_system;
  // Never read xattrs or ACLs: take the parent's (stat-only walk). A parent
  // stream that cannot be read shows up in the Find below.
  options.known_xattrs = [parent](v1::Entry* e) {
    absl::StatusOr<const v1::Entry*> found = parent->Find(e->path());
    if (found.ok() && *found != nullptr) {
      *e->mutable_xattrs() = (*found)->xattrs();
      *e->mutable_acl_access() = (*found)->acl_access();
      *e->mutable_acl_default() = (*found)->acl_default();
    }
    return true;
  };
  ASSIGN_OR_RETURN(std::unique_ptr<fs::TreeWalker> walker,
                   fs::TreeWalker::Open(fs, root, std::move(options)));
  IncrementalEstimate estimate;
  v1::Entry entry;
  uint64_t seen = 0;
  while (true) {
    if (cancel != nullptr && (++seen & 1023) == 0) RETURN_IF_ERROR(cancel->Check("backup"));
    ASSIGN_OR_RETURN(bool more, walker->Next(&entry));
    if (!more) break;
    if (entry.type() != v1::ENTRY_TYPE_REGULAR) continue;
    ASSIGN_OR_RETURN(const v1::Entry* before, parent->Find(entry.path()));
    if (before != nullptr && UnchangedSince(entry, *before, ignore_ctime)) {
      ++estimate.files_unchanged;
    } else {
      ++estimate.files_to_read;
      estimate.bytes_to_read += entry.size();
    }
  }
  walker->TakeWarnings();  // the collection's own walk reports them
  return estimate;
}

}  // namespace arca
