#include "libs/pipeline/snapshot_find.h"

#include <algorithm>
#include <memory>

#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/restore_selection.h"
#include "libs/pipeline/snapshot_reader.h"

namespace arca {
namespace {

absl::Status FindInOne(
    Repository& repo, const std::string& snapshot, const fs::PathMatcher& matcher,
    const std::function<absl::Status(const std::string&, const v1::Entry&)>& match) {
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo, snapshot));
  v1::Entry e;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&e));
    if (!more) return absl::OkStatus();
    if (e.path().empty() || !IncludedByPatterns(matcher, e)) continue;
    RETURN_IF_ERROR(match(reader->id(), e));
  }
}

}  // namespace

absl::Status FindInSnapshots(
    Repository& repo, const FindOptions& options,
    const std::function<absl::Status(const std::string& snapshot, const v1::Entry& entry)>& match) {
  if (options.patterns.empty()) {
    return absl::InvalidArgumentError("arca find needs at least one PATTERN");
  }
  ASSIGN_OR_RETURN(fs::PathMatcher matcher, fs::PathMatcher::Create(options.patterns));
  if (!options.snapshot.empty()) return FindInOne(repo, options.snapshot, matcher, match);
  ASSIGN_OR_RETURN(std::vector<v1::Manifest> list, repo.ListSnapshots(options.group));
  std::reverse(list.begin(), list.end());  // newest first
  for (const v1::Manifest& m : list) RETURN_IF_ERROR(FindInOne(repo, m.id(), matcher, match));
  return absl::OkStatus();
}

}  // namespace arca
