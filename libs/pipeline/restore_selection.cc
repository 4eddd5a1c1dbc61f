#include "libs/pipeline/restore_selection.h"

#include "absl/strings/str_cat.h"

namespace arca {
namespace {

// True when directory `dir` is a proper ancestor of `path` ("" is the root).
bool IsAncestor(const std::string& dir, const std::string& path) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' &&
         path.compare(0, dir.size(), dir) == 0;
}

}  // namespace

bool IncludedByPatterns(const fs::PathMatcher& m, const v1::Entry& e) {
  return fs::MatchesSelfOrAncestor(m, e.path(), e.type() == v1::ENTRY_TYPE_DIRECTORY);
}

absl::StatusOr<RestoreSelection> RestoreSelection::Create(const std::vector<std::string>& includes,
                                                          std::string snapshot_id) {
  absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(includes);
  if (!m.ok()) return m.status();
  return RestoreSelection(*std::move(m), std::move(snapshot_id));
}

absl::Status RestoreSelection::Select(const v1::Entry& in, std::vector<v1::Entry>* out) {
  const bool filtered = !includes_.empty();
  if (filtered && in.type() == v1::ENTRY_TYPE_REGULAR && in.nlink() > 1) {
    linked_files_[in.path()] = in;
  }
  if (filtered && in.type() == v1::ENTRY_TYPE_DIRECTORY) {
    // Keep the chain of directories above the current entry, so the
    // ancestors of an included entry get their stored metadata.
    while (!dir_stack_.empty() && !IsAncestor(dir_stack_.back().entry.path(), in.path())) {
      dir_stack_.pop_back();
    }
  }
  if (filtered && !IncludedByPatterns(includes_, in)) {
    if (in.type() == v1::ENTRY_TYPE_DIRECTORY) dir_stack_.push_back({in, false});
    return absl::OkStatus();
  }
  if (filtered) {
    for (PendingDir& d : dir_stack_) {
      if (d.written || !IsAncestor(d.entry.path(), in.path())) continue;
      out->push_back(d.entry);
      d.written = true;
    }
    if (in.type() == v1::ENTRY_TYPE_DIRECTORY) dir_stack_.push_back({in, true});
  }
  if (in.type() == v1::ENTRY_TYPE_HARDLINK) {
    auto done = restored_as_.find(in.hardlink_target());
    if (done == restored_as_.end() && filtered) {
      // The first name was not restored: write this name as the file.
      auto it = linked_files_.find(in.hardlink_target());
      if (it == linked_files_.end()) {
        return absl::DataLossError(
            absl::StrCat("hardlink '", in.path(), "' points to '", in.hardlink_target(),
                         "', which is not an earlier file of snapshot ", snapshot_id_));
      }
      v1::Entry file = it->second;
      file.set_path(in.path());
      out->push_back(std::move(file));
      restored_as_[in.hardlink_target()] = in.path();
      return absl::OkStatus();
    }
    out->push_back(in);
    if (done != restored_as_.end()) out->back().set_hardlink_target(done->second);
    return absl::OkStatus();
  }
  out->push_back(in);
  if (in.type() == v1::ENTRY_TYPE_REGULAR && in.nlink() > 1) restored_as_[in.path()] = in.path();
  return absl::OkStatus();
}

}  // namespace arca
